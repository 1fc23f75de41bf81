"""Invalid spec files: each error names file:line:column, the field, the value and a fix.

Every case runs `emergence generate` over an out/ folder that a valid spec produced first,
and checks that the failed run left every byte of it in place. The last tests check the
warnings that valid specs get while their rules and tests are generated.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from generator.bundle import Bundle, build_bundle
from generator.plan import plan_system
from generator.scenarios.synchronisation import _shown
from generator.spec import load_spec

LONG_NAME = "a" * 64

# Each case: the spec text, the expected "LINE:COLUMN", the field path printed after it,
# and fragments the message must contain (the bad value and what would be valid).
CASES = [
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
services:
  - name: api
    dependson: [db]
""",
        "5:5",
        "services[0].dependson",
        ["unknown key 'dependson'", "valid keys here: ", "depends_on"],
        id="unknown-key",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
scrape_interval: 15
services:
  - name: api
""",
        "3:18",
        "scrape_interval",
        ["invalid duration 15", "write it as a string such as 30s or 5m"],
        id="duration-as-int",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
services:
  api: {}
""",
        "4:3",
        "services",
        ["Input should be a valid list", "got {'api': {}}"],
        id="services-as-mapping",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
services: api
""",
        "3:11",
        "services",
        ["Input should be a valid list", "got 'api'"],
        id="services-as-string",
    ),
    pytest.param(
        """\
apiVersion: v2
name: shop
services:
  - name: api
""",
        "1:13",
        "apiVersion",
        ["Input should be 'emergence-ops/v1'", "got 'v2'"],
        id="api-version-unknown",
    ),
    pytest.param(
        """\
name: shop
services:
  - name: api
""",
        "1:1",
        "apiVersion",
        ["missing required key 'apiVersion'"],
        id="api-version-missing",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
""",
        "1:1",
        "services",
        ["missing required key 'services'"],
        id="services-missing",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
services:
  - name: api
  - depends_on: [api]
""",
        "5:5",
        "services[1].name",
        ["missing required key 'name'"],
        id="service-name-missing",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
services:
  - name: api
  - name: web
    depends_on: [apii]
""",
        "6:18",
        "services[1].depends_on[0]",
        ["unknown service 'apii'", "valid choices: api, web"],
        id="dependency-unknown",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
services:
  - name: a
    depends_on: [b]
  - name: b
    depends_on: [c]
  - name: c
    depends_on: [a]
""",
        "9:18",
        "services[2].depends_on[0]",
        [
            "dependency cycle a -> b -> c -> a",
            "add 'a' to path_amplification_excludes of 'c'",
        ],
        id="dependency-cycle",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
services:
  - name: api
    depends_on: [api]
""",
        "5:18",
        "services[0].depends_on[0]",
        ["'api' depends on itself"],
        id="dependency-on-itself",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: dup
services:
  - name: a
    depends_on: [b, b]
  - name: b
""",
        "5:21",
        "services[0].depends_on[1]",
        [
            "duplicate service 'b'",
            "services[0].depends_on[0] already lists 'b'; remove this entry",
        ],
        id="dependency-repeated",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
services:
  - name: a
    depends_on: [b]
    path_amplification_excludes: [b, b]
  - name: b
""",
        "6:38",
        "services[0].path_amplification_excludes[1]",
        [
            "duplicate service 'b'",
            "services[0].path_amplification_excludes[0] already lists 'b'",
        ],
        id="path-amplification-exclude-repeated",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
services:
  - name: api
    disable: [cascade, cascade]
""",
        "5:24",
        "services[0].disable[1]",
        [
            "duplicate pattern 'cascade'",
            "services[0].disable[0] already lists 'cascade'",
        ],
        id="disable-repeated",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
synchronisation:
  entry_services: [a, a]
services:
  - name: a
""",
        "4:23",
        "synchronisation.entry_services[1]",
        [
            "duplicate service 'a'",
            "synchronisation.entry_services[0] already lists 'a'",
        ],
        id="entry-service-repeated",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
synchronisation:
  groups: {checkout: [a, b, a]}
services:
  - name: a
  - name: b
""",
        "4:29",
        "synchronisation.groups.checkout[2]",
        [
            "duplicate service 'a'",
            "synchronisation.groups.checkout[0] already lists 'a'",
        ],
        id="group-member-repeated",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
teams: [web, payments, web]
services:
  - name: api
    team: web
""",
        "3:24",
        "teams[2]",
        ["duplicate team 'web'", "teams[0] already lists 'web'"],
        id="team-repeated",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
grafana:
  tags: [emergence, shop, emergence]
services:
  - name: api
""",
        "4:27",
        "grafana.tags[2]",
        ["duplicate tag 'emergence'", "grafana.tags[0] already lists 'emergence'"],
        id="grafana-tag-repeated",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
grafana:
  folder: "   "
services:
  - name: api
""",
        "4:11",
        "grafana.folder",
        ["'   ' is blank", "write at least one character other than whitespace"],
        id="grafana-folder-blank",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
grafana:
  folder: "Emergence\\tops"
services:
  - name: api
""",
        "4:11",
        "grafana.folder",
        [
            "'Emergence\\tops' contains the control character '\\t'",
            "write it on one line without tabs or other control characters",
        ],
        id="grafana-folder-tab",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
grafana:
  tags: [emergence, "  "]
services:
  - name: api
""",
        "4:21",
        "grafana.tags[1]",
        ["'  ' is blank", "write at least one character other than whitespace"],
        id="grafana-tag-blank",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
grafana:
  tags: ["x\\ny"]
services:
  - name: api
""",
        "4:10",
        "grafana.tags[0]",
        ["'x\\ny' contains the control character '\\n'"],
        id="grafana-tag-newline",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
teams: ["  "]
services:
  - name: api
""",
        "3:9",
        "teams[0]",
        ["'  ' is blank"],
        id="teams-entry-blank",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
defaults:
  team: "web\\nops"
services:
  - name: api
""",
        "4:9",
        "defaults.team",
        ["'web\\nops' contains the control character '\\n'"],
        id="default-team-newline",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
services:
  - name: api
    team: " "
""",
        "5:11",
        "services[0].team",
        ["' ' is blank"],
        id="service-team-blank",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
runbook_base_url: https://runbooks.example.com/${env}
services:
  - name: api
""",
        "3:19",
        "runbook_base_url",
        [
            "'https://runbooks.example.com/${env}' is not a runbook base URL: "
            "it contains '$'",
            "Grafana expands as a variable ($name, ${...}) in data link URLs",
            "write it as %24",
        ],
        id="runbook-url-dollar",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
runbook_base_url: https://runbooks.example.com/{team}
services:
  - name: api
""",
        "3:19",
        "runbook_base_url",
        [
            "it contains '{'",
            "Prometheus reads as template syntax ({{ ... }}) in alert annotations",
            "write it as %7B or %7D",
        ],
        id="runbook-url-brace",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
runbook_base_url: "https://runbooks.example.com/run books"
services:
  - name: api
""",
        "3:19",
        "runbook_base_url",
        [
            "it contains ' '",
            "which can end the link early in the HTML or Markdown",
            "space %20",
        ],
        id="runbook-url-space",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
runbook_base_url: https://runbooks.example.com/it's
services:
  - name: api
""",
        "3:19",
        "runbook_base_url",
        ['it contains "\'"', "' %27"],
        id="runbook-url-single-quote",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
runbook_base_url: 'https://runbooks.example.com/"x"'
services:
  - name: api
""",
        "3:19",
        "runbook_base_url",
        ["it contains '\"'", '" %22'],
        id="runbook-url-double-quote",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
services:
  - name: api
  - name: api
""",
        "5:11",
        "services[1].name",
        ["duplicate service 'api'", "services[0] already uses this name"],
        id="service-duplicate",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
name: shop2
services:
  - name: api
""",
        "3:1",
        "name",
        ["duplicate key 'name'", "first defined at line 2"],
        id="yaml-key-duplicate",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
services:
  - name: Api
""",
        "4:11",
        "services[0].name",
        ["'Api' is not a DNS-1123 label", "lowercase letters, digits and '-'"],
        id="service-name-uppercase",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
services:
  - name: my_api
""",
        "4:11",
        "services[0].name",
        ["'my_api' is not a DNS-1123 label", "lowercase letters, digits and '-'"],
        id="service-name-underscore",
    ),
    pytest.param(
        f"""\
apiVersion: emergence-ops/v1
name: shop
services:
  - name: {LONG_NAME}
""",
        "4:11",
        "services[0].name",
        [f"'{LONG_NAME}' is not a DNS-1123 label", "at most 63"],
        id="service-name-64-chars",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
defaults:
  thresholds:
    retry_ratio:
      warning: 1.5
services:
  - name: api
""",
        "6:16",
        "defaults.thresholds.retry_ratio.warning",
        ["1.5 is out of range", "use a fraction above 0 and at most 1"],
        id="defaults-fraction-above-one",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
services:
  - name: api
    thresholds:
      retry_ratio:
        warning: 1.5
""",
        "7:18",
        "services[0].thresholds.retry_ratio.warning",
        ["1.5 is out of range", "use a fraction above 0 and at most 1"],
        id="service-fraction-above-one",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
defaults:
  thresholds:
    latency_ratio:
      warning: -2
services:
  - name: api
""",
        "6:16",
        "defaults.thresholds.latency_ratio.warning",
        ["-2 is out of range", "use a multiplier of at least 1"],
        id="defaults-multiplier-negative",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
services:
  - name: api
    thresholds:
      latency_ratio: {warning: -2}
""",
        "6:32",
        "services[0].thresholds.latency_ratio.warning",
        ["-2 is out of range", "use a multiplier of at least 1"],
        id="service-multiplier-negative",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
defaults:
  thresholds:
    latency_ratio:
      warning: 20
      critical: 10
services:
  - name: api
""",
        "6:16",
        "defaults.thresholds.latency_ratio.warning",
        [
            "latency_ratio.warning 20 is above latency_ratio.critical 10",
            "lower warning or raise critical",
        ],
        id="defaults-warning-above-critical",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
services:
  - name: api
    thresholds:
      latency_ratio:
        warning: 20
        critical: 10
""",
        "7:18",
        "services[0].thresholds.latency_ratio.warning",
        [
            "latency_ratio.warning 20 is above latency_ratio.critical 10",
            "lower warning or raise critical",
        ],
        id="service-warning-above-critical",
    ),
    # The service sets only warning; critical 10 is the built-in default it inherits.
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
services:
  - name: api
    thresholds:
      latency_ratio:
        warning: 12
""",
        "7:18",
        "services[0].thresholds.latency_ratio.warning",
        ["latency_ratio.warning 12 is above latency_ratio.critical 10"],
        id="service-warning-above-inherited-critical",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
scrape_interval: 30s
windows:
  short: 45s
services:
  - name: api
""",
        "5:10",
        "windows.short",
        [
            "window 45s is shorter than twice the scrape interval 30s",
            "use at least 2m",
        ],
        id="window-below-two-scrapes",
    ),
    # The default windows.short (1m) is not in the file, so the error points at the
    # scrape interval that made it too short.
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
scrape_interval: 10m
services:
  - name: api
""",
        "3:18",
        "windows.short",
        ["window 1m is shorter than twice the scrape interval 10m"],
        id="default-window-below-two-scrapes",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
services:
  - name: api
    depends_on: [db
""",
        "6:1",
        "(top level)",
        [
            "invalid YAML: did not find expected ',' or ']'",
            "flow sequence that starts at line 5, column 17",
        ],
        id="yaml-bracket-unclosed",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
services:
  - name: api
   team: web
""",
        "5:4",
        "(top level)",
        ["invalid YAML: did not find expected '-' indicator"],
        id="yaml-indent-invalid",
    ),
    pytest.param(
        "",
        "1:1",
        "(top level)",
        ["the file is empty", "hint: start from specs/minimal.yaml"],
        id="file-empty",
    ),
    pytest.param(
        "# services: none yet\n",
        "1:1",
        "(top level)",
        ["the file is empty", "hint: start from specs/minimal.yaml"],
        id="file-only-comment",
    ),
    pytest.param(
        """\
- name: api
""",
        "1:1",
        "(top level)",
        ["the spec must be a mapping of keys to values"],
        id="file-top-level-list",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
services:
  - name: api
    signals:
      requests: http_requests_total{job="api"
""",
        "6:17",
        "services[0].signals.requests",
        ["invalid PromQL selector 'http_requests_total{job=\"api\"'"],
        id="signal-selector-unclosed",
    ),
    pytest.param(
        """\
apiVersion: emergence-ops/v1
name: shop
services:
  - name: api
    signals:
      requests: rate(http_requests_total[5m])
""",
        "6:17",
        "services[0].signals.requests",
        [
            "'rate(http_requests_total[5m])' is not a plain vector selector",
            'such as http_requests_total{job="api"}',
        ],
        id="signal-selector-function",
    ),
]


@pytest.mark.parametrize(("text", "location", "field", "fragments"), CASES)
def test_invalid_spec_reported_out_kept(cli, text, location, field, fragments):
    out = cli.generate_valid()
    spec = cli.write_spec(text)
    files_before = cli.snapshot(out)
    entries_before = sorted(path.name for path in cli.folder.iterdir())

    result = cli.run("generate", spec, "-o", out.name)

    assert result.exit_code == 1
    assert result.stdout == ""
    assert f"{spec}:{location}: " in result.stderr
    assert f"{spec}:{location}: {field}: " in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr
    assert "nothing written" in result.stderr
    assert "Traceback" not in result.stderr
    assert cli.snapshot(out) == files_before
    assert sorted(path.name for path in cli.folder.iterdir()) == entries_before


def test_invalid_spec_validate_matches_generate(cli):
    spec = cli.write_spec(CASES[0].values[0])

    generated = cli.run("generate", spec, "-o", "out")
    validated = cli.run("validate", spec)

    assert validated.exit_code == 1
    assert validated.stderr == generated.stderr


def test_service_name_63_chars_valid(cli):
    name = "a" * 63
    spec = cli.write_spec(
        f"apiVersion: emergence-ops/v1\nname: shop\nservices:\n  - name: {name}\n"
    )

    result = cli.run("validate", spec)

    assert result.exit_code == 0, result.stderr


def test_model_errors_reported_together(cli):
    out = cli.generate_valid()
    files_before = cli.snapshot(out)
    spec = cli.write_spec(
        """\
apiVersion: emergence-ops/v1
name: shop
scrape_interval: 15
services:
  - name: Api
    dependson: [db]
  - depends_on: []
"""
    )

    result = cli.run("generate", spec, "-o", "out")

    assert result.exit_code == 1
    assert f"4 invalid values in {spec}, nothing written" in result.stderr
    assert f"{spec}:3:18: scrape_interval: " in result.stderr
    assert f"{spec}:5:11: services[0].name: " in result.stderr
    assert f"{spec}:6:5: services[0].dependson: " in result.stderr
    assert f"{spec}:7:5: services[1].name: " in result.stderr
    assert cli.snapshot(out) == files_before


def test_cross_field_errors_reported_together(cli):
    out = cli.generate_valid()
    files_before = cli.snapshot(out)
    spec = cli.write_spec(
        """\
apiVersion: emergence-ops/v1
name: shop
services:
  - name: api
    depends_on: [db, cache]
    thresholds:
      retry_ratio: {warning: 0.5, critical: 0.2}
  - name: api
"""
    )

    result = cli.run("generate", spec, "-o", "out")

    assert result.exit_code == 1
    assert f"4 invalid values in {spec}, nothing written" in result.stderr
    assert f"{spec}:5:18: services[0].depends_on[0]: " in result.stderr
    assert f"{spec}:5:22: services[0].depends_on[1]: " in result.stderr
    assert f"{spec}:7:30: services[0].thresholds.retry_ratio.warning: " in result.stderr
    assert f"{spec}:8:11: services[1].name: " in result.stderr
    assert cli.snapshot(out) == files_before


def test_errors_sorted_by_line(cli):
    spec = cli.write_spec(
        """\
apiVersion: emergence-ops/v1
name: shop
services:
  - name: web
    depends_on: [zzz]
  - name: api
    depends_on: [aaa]
"""
    )

    result = cli.run("validate", spec)

    first = result.stderr.index(f"{spec}:5:18: ")
    second = result.stderr.index(f"{spec}:7:18: ")
    assert first < second


def test_errors_in_two_files_reported(cli):
    out = cli.generate_valid()
    files_before = cli.snapshot(out)
    first = cli.write_spec(
        "apiVersion: emergence-ops/v1\nname: one\nservices:\n  - name: One\n",
        name="one.yaml",
    )
    second = cli.write_spec(
        "apiVersion: emergence-ops/v1\nname: two\nservices:\n  - name: api\n"
        "    depends_on: [db]\n",
        name="two.yaml",
    )

    result = cli.run("generate", first, second, "-o", "out")

    assert result.exit_code == 1
    assert f"2 invalid values in {first}, {second}, nothing written" in result.stderr
    assert f"{first}:4:11: services[0].name: " in result.stderr
    assert f"{second}:5:18: services[0].depends_on[0]: " in result.stderr
    assert cli.snapshot(out) == files_before


def test_valid_and_invalid_file_write_nothing(cli):
    out = cli.generate_valid()
    files_before = cli.snapshot(out)
    good = cli.write_spec(
        "apiVersion: emergence-ops/v1\nname: good\nservices:\n  - name: api\n",
        name="good.yaml",
    )
    bad = cli.write_spec(
        "apiVersion: emergence-ops/v1\nname: bad\nservices: []\n", name="bad.yaml"
    )

    result = cli.run("generate", good, bad, "-o", "out")

    assert result.exit_code == 1
    assert f"{bad}:3:11: services: " in result.stderr
    assert str(good) + ":" not in result.stderr
    assert cli.snapshot(out) == files_before


def test_spec_name_reused_across_files(cli):
    text = "apiVersion: emergence-ops/v1\nname: shop\nservices:\n  - name: api\n"
    first = cli.write_spec(text, name="first.yaml")
    second = cli.write_spec(text, name="second.yaml")

    result = cli.run("validate", first, second)

    assert result.exit_code == 1
    assert f"{second}:2:7: name: spec name 'shop' is also used by {first}" in (
        result.stderr
    )
    assert "hint: each spec writes out/<name>/" in result.stderr


def test_file_not_utf8_reported(cli):
    spec = cli.folder / "latin1.yaml"
    spec.write_bytes(b"apiVersion: emergence-ops/v1\nname: caf\xe9\n")

    result = cli.run("validate", spec.name)

    assert result.exit_code == 1
    assert f"{spec.name}:1:1: (top level): cannot read the file" in result.stderr


def test_excerpt_marks_error_column(cli):
    spec = cli.write_spec(
        "apiVersion: emergence-ops/v1\nname: shop\nservices:\n  - name: Api\n"
    )

    result = cli.run("validate", spec)

    assert "     4 |   - name: Api\n" in result.stderr
    assert "       |           ^\n" in result.stderr


def test_model_and_reference_errors_reported_together(cli):
    spec = cli.write_spec(
        """\
apiVersion: emergence-ops/v1
name: shop
services:
  - name: api
    depends_on: [db]
    colour: red
  - name: db
    depends_on: [api]
"""
    )

    result = cli.run("validate", spec)

    assert result.exit_code == 1
    assert f"2 invalid values in {spec}, nothing written" in result.stderr
    assert f"{spec}:6:5: services[0].colour: unknown key 'colour'" in result.stderr
    assert "dependency cycle" in result.stderr


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        pytest.param(
            "runbook_base_url: https://r.example.com/x?y=1",
            "3:19: runbook_base_url: 'https://r.example.com/x?y=1' is not a runbook base URL",
            id="runbook-url-with-query",
        ),
        pytest.param(
            "defaults: {thresholds: {latency_ratio: {critical: true}}}",
            "3:51: defaults.thresholds.latency_ratio.critical: Input should be a valid number",
            id="threshold-boolean",
        ),
        pytest.param(
            'defaults: {thresholds: {latency_ratio: {critical: "12"}}}',
            "3:51: defaults.thresholds.latency_ratio.critical: Input should be a valid number",
            id="threshold-string",
        ),
    ],
)
def test_spec_rejects_lax_values(cli, line, fragment):
    spec = cli.write_spec(
        f"apiVersion: emergence-ops/v1\nname: shop\n{line}\nservices:\n  - name: api\n"
    )

    result = cli.run("validate", spec)

    assert result.exit_code == 1
    assert f"{spec}:{fragment}" in result.stderr


def test_durations_must_be_whole_evaluation_steps(cli):
    spec = cli.write_spec(
        "apiVersion: emergence-ops/v1\nname: shop\nwindows: {short: 70s}\n"
        "defaults: {alerts: {latency_ratio: {for: 7s}}}\nservices:\n  - name: api\n"
    )

    result = cli.run("validate", spec)

    assert result.exit_code == 1
    assert f"{spec}:3:18: windows.short: 1m10s is not a whole number" in result.stderr
    assert (
        f"{spec}:4:42: defaults.alerts.latency_ratio.for: 7s is not a whole"
        in result.stderr
    )


def test_unused_default_team_need_not_be_listed(cli):
    spec = cli.write_spec(
        "apiVersion: emergence-ops/v1\nname: shop\nteams: [web]\n"
        "services:\n  - name: api\n    team: web\n"
    )

    result = cli.run("validate", spec)

    assert result.exit_code == 0


def test_cascade_dependencies_must_be_whole(cli):
    spec = cli.write_spec(
        "apiVersion: emergence-ops/v1\nname: shop\n"
        "defaults: {thresholds: {cascade: {dependencies: 2.5}}}\nservices:\n  - name: api\n"
    )

    result = cli.run("validate", spec)

    assert result.exit_code == 1
    assert (
        "cascade.dependencies: 2.5 is out of range: use a whole count" in result.stderr
    )


@pytest.mark.parametrize(
    ("setting", "field"),
    [
        pytest.param(
            "capacity: {requests_per_second: .inf}",
            "services[0].capacity.requests_per_second",
            id="capacity",
        ),
        pytest.param(
            "capacity: {cpu_limit_cores: .inf}",
            "services[0].capacity.cpu_limit_cores",
            id="cpu-limit",
        ),
        pytest.param(
            "thresholds: {latency_ratio: {critical: .inf}}",
            "services[0].thresholds.latency_ratio.critical",
            id="unbounded-level",
        ),
        pytest.param(
            "thresholds: {retry_amplification: {critical: .nan}}",
            "services[0].thresholds.retry_amplification.critical",
            id="nan-level",
        ),
    ],
)
def test_infinite_numbers_rejected(cli, setting, field):
    # An infinite level was written into the dashboards as Infinity, which is not JSON.
    spec = cli.write_spec(
        "apiVersion: emergence-ops/v1\nname: shop\nservices:\n"
        f"  - name: api\n    {setting}\n"
    )

    result = cli.run("validate", spec)

    assert result.exit_code == 1
    assert f"{field}: Input should be a finite number" in result.stderr


def test_dollar_valid_in_grafana_settings(cli):
    # Grafana expands $VAR in provisioning files, so the generator writes $ there as $$.
    spec = cli.write_spec(
        "apiVersion: emergence-ops/v1\nname: shop\n"
        "grafana:\n  folder: $team dashboards\n"
        "  datasource_url: http://prometheus:9090/$prefix\n"
        "services:\n  - name: api\n"
    )

    result = cli.run("validate", spec)

    assert result.exit_code == 0, result.stderr


def test_runbook_url_percent_encoded_valid(cli):
    spec = cli.write_spec(
        "apiVersion: emergence-ops/v1\nname: shop\n"
        "runbook_base_url: https://runbooks.example.com/%24env/run%20books\n"
        "services:\n  - name: api\n"
    )

    result = cli.run("validate", spec)

    assert result.exit_code == 0, result.stderr


def _bundle(folder: Path, text: str) -> Bundle:
    path = folder / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return build_bundle(plan_system(load_spec(path)))


def test_left_out_warning_lists_spec_order(tmp_path):
    # Callers come first in the plan (w, y, then z and x), which is not the spec's order.
    bundle = _bundle(
        tmp_path,
        """\
apiVersion: emergence-ops/v1
name: order
services:
  - name: z
    profile: custom
  - name: y
    depends_on: [z, x]
  - name: x
    profile: custom
  - name: w
    depends_on: [y]
    profile: custom
""",
    )
    latency = [w for w in bundle.plan.warnings if "pattern latency_ratio" in w]
    death_spiral = [w for w in bundle.plan.warnings if "pattern death_spiral" in w]

    assert len(latency) == 1
    assert "for services[0] 'z', services[2] 'x', services[3] 'w': " in latency[0]
    assert len(death_spiral) == 2
    assert (
        "for services[0] 'z', services[2] 'x', services[3] 'w': " in (death_spiral[0])
    )
    assert "for services[1] 'y': " in death_spiral[1]


def test_correlation_warning_rounded(tmp_path):
    # A warning level this low lets the healthy fan-out of the scenario reach it, so the
    # synchronisation tests are left out with a warning that names the correlation.
    bundle = _bundle(
        tmp_path,
        """\
apiVersion: emergence-ops/v1
name: sync
defaults:
  thresholds:
    synchronisation: {baseline: 0.01, warning: 0.02, critical: 0.03}
services:
  - name: front
    depends_on: [a, b, c]
  - name: a
  - name: b
  - name: c
""",
    )
    warnings = [w for w in bundle.plan.warnings if "partial correlation" in w]

    assert len(warnings) == 1
    assert re.search(r"correlation 0\.\d{1,3} of a reaches", warnings[0])
    assert "reaches its warning level 0.02;" in warnings[0]


@pytest.mark.parametrize(
    ("value", "level", "shown"),
    [
        pytest.param(0.8354206384334909, 0.7, "0.835", id="three-digits"),
        pytest.param(0.8999, 0.9, "0.8999", id="more-digits-near-level"),
        pytest.param(0.9, 0.9, "0.9", id="equal-to-level"),
    ],
)
def test_correlation_shown_apart_from_level(value, level, shown):
    assert _shown(value, level) == shown


def _matching(bundle: Bundle, fragment: str) -> list[str]:
    return [w for w in bundle.plan.warnings if fragment in w]


PHASE_CRITICAL = "alert EmergencePhaseTransitionCritical can never fire"


def test_phase_critical_warns_latency_ratio_disabled(tmp_path):
    bundle = _bundle(
        tmp_path,
        """\
apiVersion: emergence-ops/v1
name: phase
services:
  - name: api
    capacity: {requests_per_second: 100}
  - name: worker
    capacity: {requests_per_second: 50}
    disable: [latency_ratio]
""",
    )
    warnings = _matching(bundle, PHASE_CRITICAL)

    assert len(warnings) == 1
    assert f"{tmp_path / 'spec.yaml'}: " in warnings[0]
    assert f"{PHASE_CRITICAL} for services[1] 'worker': " in warnings[0]
    assert "p99/p50 latency ratio" in warnings[0]
    assert "pattern latency_ratio" in warnings[0]
    assert "phase state never reaches CRITICAL (2)" in warnings[0]
    assert "remove latency_ratio from the service's disable list" in warnings[0]


def test_phase_critical_warns_without_latency(tmp_path):
    bundle = _bundle(
        tmp_path,
        """\
apiVersion: emergence-ops/v1
name: phase
services:
  - name: api
    profile: custom
    capacity: {requests_per_second: 100}
    signals:
      requests: http_requests_total
""",
    )
    warnings = _matching(bundle, PHASE_CRITICAL)

    assert len(warnings) == 1
    assert f"{PHASE_CRITICAL} for services[0] 'api': " in warnings[0]
    assert "from a latency signal the service lacks" in warnings[0]
    assert "set latency under the service's signals" in warnings[0]
    assert "request rate" not in warnings[0]


def test_phase_critical_warns_without_requests(tmp_path):
    # The load comes from CPU alone, but the critical alert is gated on request rate.
    bundle = _bundle(
        tmp_path,
        """\
apiVersion: emergence-ops/v1
name: phase
services:
  - name: worker
    profile: custom
    capacity: {cpu_limit_cores: 2}
    signals:
      latency: job_duration_seconds_bucket
      cpu_usage: container_cpu_usage_seconds_total
""",
    )
    warnings = _matching(bundle, PHASE_CRITICAL)

    assert len(warnings) == 1
    assert f"{PHASE_CRITICAL} for services[0] 'worker': " in warnings[0]
    assert "min_request_rate.gate" in warnings[0]
    assert "set requests under the service's signals" in warnings[0]
    assert "latency ratio" not in warnings[0]


def test_phase_critical_warning_lists_ten(tmp_path):
    services = "".join(
        f"  - name: s{i:02}\n"
        "    capacity: {requests_per_second: 100}\n"
        "    disable: [latency_ratio]\n"
        for i in range(12)
    )
    bundle = _bundle(
        tmp_path,
        f"apiVersion: emergence-ops/v1\nname: many\nservices:\n{services}",
    )
    warnings = _matching(bundle, PHASE_CRITICAL)
    listed = ", ".join(f"services[{i}] 's{i:02}'" for i in range(10))

    assert len(warnings) == 1
    assert f"for {listed} and 2 more: " in warnings[0]


def test_phase_critical_silent_when_recorded(tmp_path):
    bundle = _bundle(
        tmp_path,
        """\
apiVersion: emergence-ops/v1
name: phase
services:
  - name: api
    capacity: {requests_per_second: 100}
  - name: opted-out
    capacity: {requests_per_second: 100}
    disable: [latency_ratio, phase_transition]
""",
    )
    assert _matching(bundle, "can never fire") == []


def test_cascade_warns_without_critical_dependencies(tmp_path):
    # redis and postgres have only the phase transition's critical alert, which cannot
    # fire without latency and requests, so only one dependency of orders can count.
    bundle = _bundle(
        tmp_path,
        """\
apiVersion: emergence-ops/v1
name: shop
services:
  - name: gateway
    depends_on: [orders, payments]
  - name: orders
    depends_on: [payments, redis, postgres]
  - name: payments
  - name: redis
    profile: custom
    capacity: {cpu_limit_cores: 0.5}
    signals:
      cpu_usage: container_cpu_usage_seconds_total{container="redis"}
    disable: [latency_ratio, cascade]
  - name: postgres
    profile: custom
    disable: [cascade]
""",
    )
    warnings = _matching(bundle, "alert EmergenceCascadeCritical can never fire")

    assert len(warnings) == 1
    assert "for services[1] 'orders': " in warnings[0]
    assert "thresholds.cascade.dependencies" in warnings[0]
    assert "'gateway'" not in warnings[0]


def test_cascade_reach_warns_for_set_levels(tmp_path):
    # orders sets cascade.dependencies 3 with two dependencies, so its alert is left out.
    # catalog has one dependency under the built-in level of 2: common, so no warning.
    bundle = _bundle(
        tmp_path,
        """\
apiVersion: emergence-ops/v1
name: reach
services:
  - name: orders
    depends_on: [catalog, payments]
    thresholds: {cascade: {dependencies: 3}}
  - name: catalog
    depends_on: [payments]
  - name: payments
""",
    )
    warnings = _matching(bundle, "so it gets no cascade alert")

    assert len(warnings) == 1
    assert "'orders' has 2 dependencies" in warnings[0]


SYNC_LEFT_OUT = "pattern synchronisation left out for"


def test_sync_warns_entry_without_requests(tmp_path):
    bundle = _bundle(
        tmp_path,
        """\
apiVersion: emergence-ops/v1
name: sync
services:
  - name: front
    profile: custom
    depends_on: [c, b, a]
  - name: c
  - name: b
  - name: a
""",
    )
    warnings = _matching(bundle, "partial correlations")

    assert bundle.plan.pairs == ()
    assert len(warnings) == 1
    assert (
        f"{SYNC_LEFT_OUT} services[1] 'c', services[2] 'b', services[3] 'a': "
        in warnings[0]
    )
    assert "the entry service services[0] 'front' has no requests signal" in warnings[0]
    assert "set requests under its signals" in warnings[0]
    assert "synchronisation.entry_services" in warnings[0]


def test_sync_warns_explicit_entries_without_requests(tmp_path):
    bundle = _bundle(
        tmp_path,
        """\
apiVersion: emergence-ops/v1
name: sync
synchronisation: {entry_services: [edge, batch]}
services:
  - name: edge
    profile: custom
    depends_on: [a, b]
  - name: batch
    profile: custom
    depends_on: [a, b]
  - name: a
  - name: b
""",
    )
    warnings = _matching(bundle, "partial correlations")

    assert len(warnings) == 1
    assert f"{SYNC_LEFT_OUT} services[2] 'a', services[3] 'b': " in warnings[0]
    assert (
        "the entry services services[0] 'edge', services[1] 'batch' have no requests"
        in warnings[0]
    )


def test_sync_warns_when_every_service_called(tmp_path):
    # The cycle is allowed because path amplification leaves its last call out, but
    # every service still has a caller, so none is an entry service.
    bundle = _bundle(
        tmp_path,
        """\
apiVersion: emergence-ops/v1
name: sync
services:
  - name: front
    depends_on: [a, b]
  - name: a
    depends_on: [front]
    path_amplification_excludes: [front]
  - name: b
""",
    )
    warnings = _matching(bundle, "partial correlations")

    assert bundle.plan.pairs == ()
    assert len(warnings) == 1
    assert (
        f"{SYNC_LEFT_OUT} services[0] 'front', services[1] 'a', services[2] 'b': "
        in warnings[0]
    )
    assert "every service has a caller" in warnings[0]
    assert "path_amplification_excludes" in warnings[0]
    assert "list the services whose traffic drives the system in " in warnings[0]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(
            "synchronisation: {entry_services: []}\n"
            "services:\n"
            "  - name: front\n    depends_on: [a, b, c]\n"
            "  - name: a\n  - name: b\n  - name: c\n",
            id="empty-entries-default",
        ),
        pytest.param("services:\n  - name: api\n", id="no-pairs"),
    ],
)
def test_sync_no_entry_warning_otherwise(tmp_path, text):
    bundle = _bundle(tmp_path, f"apiVersion: emergence-ops/v1\nname: sync\n{text}")

    assert _matching(bundle, "partial correlations") == []
