"""Every query of the generated dashboards, run by a real Prometheus server.

No Grafana server runs in the tests. Instead, one Prometheus server on 127.0.0.1 loads the
rule files generated for every spec in specs/, and each panel, annotation and variable
query of the generated dashboards is sent to its HTTP API with Grafana's variables
replaced. The rules record the threshold and topology info series from constants, without
any scraped input, so the tables and the drawn levels that read them are checked for their
content too. Series computed from traffic stay empty here, and no test expects data in them.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

import pytest
import yaml
from test_grafana import queries

from generator import naming
from generator.bundle import Bundle, build_bundles
from generator.output import write_tree
from generator.spec import load_specs
from generator.targets import render_bundle
from generator.targets.grafana_dashboards import LEVEL_COLOURS, dashboard_uid

REPO = Path(__file__).resolve().parent.parent
SPECS = sorted((REPO / "specs").glob("*.yaml"))
# The rule groups evaluate every 15 s (the specs' evaluation_interval), so the first
# evaluation of every group comes at most one interval after Prometheus is ready.
READY_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 10
HTTP_TIMEOUT_SECONDS = 10
POLL_SECONDS = 0.25
LOG_LINES = 40
# The dashboards' default time range is the last hour. The step is the provisioned
# datasource's minimum interval (timeInterval), the specs' 15 s scrape interval.
RANGE_SECONDS = 3600
STEP = "15s"
# Grafana's built-in interval variables for that range and step. Grafana computes
# $__rate_interval as max($__interval + scrape interval, 4 * scrape interval).
BUILT_IN_VARIABLES = {"__interval": "15s", "__rate_interval": "1m", "__range": "1h"}
# The two variable forms the generator writes into queries: $name and ${name}.
GRAFANA_VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)\}")
LABEL_VALUES = re.compile(r"label_values\((?P<selector>.+), *(?P<label>\w+)\)")


# --- generated files -------------------------------------------------------------------


@dataclass(frozen=True)
class Output:
    """One spec's bundle and the files generated from it under out/<spec>/."""

    bundle: Bundle
    folder: Path

    @property
    def services(self) -> list[str]:
        return [service.name for service in self.bundle.plan.services]

    @property
    def rule_files(self) -> list[Path]:
        return sorted((self.folder / "prometheus" / "rules").glob("*.rules.yaml"))

    def dashboard(self, kind: str) -> dict[str, Any]:
        uid = dashboard_uid(self.bundle.name, kind)
        path = self.folder / "grafana" / "dashboards" / f"{uid}.json"
        return json.loads(path.read_text(encoding="utf-8"))

    def rule_groups(self) -> list[dict[str, Any]]:
        return [
            group
            for path in self.rule_files
            for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
        ]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Output]:
    """Generate out/ for every spec into a temporary folder, keyed by the spec's file stem."""
    folder = tmp_path_factory.mktemp("out")
    outputs = {}
    for bundle in build_bundles(load_specs(SPECS)):
        write_tree(render_bundle(bundle), folder)
        outputs[bundle.plan.path.stem] = Output(bundle, folder / bundle.name)
    return outputs


# --- the Prometheus server -------------------------------------------------------------


@dataclass(frozen=True)
class Prometheus:
    """The HTTP API of a Prometheus server that this module started."""

    url: str

    def query(self, expr: str) -> dict[str, Any]:
        """Send an instant query as a form POST."""
        return self._request("/api/v1/query", {"query": expr}, post=True)

    def query_range(self, expr: str, step: str = STEP) -> dict[str, Any]:
        """Send a range query over the last RANGE_SECONDS, with start and end aligned to
        the step."""
        step_seconds = _seconds(step)
        end = int(time.time()) // step_seconds * step_seconds
        params = {
            "query": expr,
            "start": str(end - RANGE_SECONDS),
            "end": str(end),
            "step": str(step_seconds),
        }
        return self._request("/api/v1/query_range", params, post=True)

    def label_values(self, label: str, selector: str) -> dict[str, Any]:
        """Request the values of `label` on the series that `selector` matches, the
        options of a label_values(selector, label) variable."""
        return self._request(f"/api/v1/label/{label}/values", {"match[]": selector})

    def get(self, path: str) -> dict[str, Any]:
        return self._request(path, {})

    def _request(
        self, path: str, params: dict[str, str], post: bool = False
    ) -> dict[str, Any]:
        form = urlencode(params)
        if post:
            request = Request(self.url + path, data=form.encode())
        else:
            request = Request(f"{self.url}{path}?{form}" if form else self.url + path)
        try:
            with urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
                return json.load(response)
        except HTTPError as error:
            # Prometheus rejects a query with status 400 or 422 and a JSON body that has
            # "status": "error" and the message, which the caller checks.
            with error:
                return json.load(error)


def _seconds(duration: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    return int(duration[:-1]) * units[duration[-1]]


def _free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _log_tail(log: Path) -> str:
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(lines[-LOG_LINES:])


def _wait_until_evaluated(
    prometheus: Prometheus,
    process: subprocess.Popen[bytes],
    log: Path,
    expected_groups: set[str],
) -> None:
    """Wait until Prometheus is ready and has evaluated every rule group once, failing
    the test with Prometheus's log if it exits or READY_TIMEOUT_SECONDS pass first."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    waiting_for = "the server to become ready"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"Prometheus exited with code {process.returncode} while the test "
                f"waited for {waiting_for}. Its log:\n{_log_tail(log)}",
                pytrace=False,
            )
        try:
            groups = prometheus.get("/api/v1/rules")["data"]["groups"]
        except (URLError, ConnectionError, json.JSONDecodeError):
            # Not listening yet, or listening but not ready (status 503 with a text body).
            time.sleep(POLL_SECONDS)
            continue
        loaded = {group["name"] for group in groups}
        if loaded != expected_groups:
            pytest.fail(
                "Prometheus loaded other rule groups than the generated files contain: "
                f"missing {sorted(expected_groups - loaded)}, "
                f"unexpected {sorted(loaded - expected_groups)}. Its log:\n"
                f"{_log_tail(log)}",
                pytrace=False,
            )
        # A group that was never evaluated has Go's zero time, 0001-01-01T00:00:00Z.
        pending = sorted(
            group["name"]
            for group in groups
            if group["lastEvaluation"].startswith("0001-")
        )
        if not pending:
            return
        waiting_for = f"the first evaluation of {len(pending)} rule groups"
        time.sleep(POLL_SECONDS)
    pytest.fail(
        f"Prometheus timed out after {READY_TIMEOUT_SECONDS} s waiting for {waiting_for}. "
        f"Its log:\n{_log_tail(log)}",
        pytrace=False,
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def prometheus(
    generated: dict[str, Output], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    """Run Prometheus with the rule files of every spec, and no scrape targets."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail(
            "prometheus is not on PATH: run `make tools`, which installs Debian's "
            "prometheus package",
            pytrace=False,
        )
    folder = tmp_path_factory.mktemp("prometheus")
    config = folder / "prometheus.yml"
    # Prometheus allows a glob only in a rule file path's last element.
    rule_files = [
        str(output.folder / "prometheus" / "rules" / "*.rules.yaml")
        for output in generated.values()
    ]
    config.write_text(
        yaml.safe_dump(
            {"global": {"evaluation_interval": "15s"}, "rule_files": rule_files}
        ),
        encoding="utf-8",
    )
    expected_groups = {
        group["name"] for output in generated.values() for group in output.rule_groups()
    }

    # NOTE: another process may take the port before Prometheus binds it. Prometheus then
    # exits, and the test fails with its log.
    address = f"127.0.0.1:{_free_port()}"
    log = folder / "prometheus.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address={address}",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = Prometheus(f"http://{address}")
    try:
        _wait_until_evaluated(server, process, log, expected_groups)
        yield server
    finally:
        _stop(process)


# --- Grafana's side --------------------------------------------------------------------


def interpolate(expr: str, service: str) -> str:
    """Replace Grafana's variables in a query as Grafana does for a single chosen value.

    A reference to a name that Grafana does not know stays as it is, which keeps
    label_replace's "$1". Any other name left over fails the test."""
    # Service names need no escaping inside a PromQL string, so each goes in unchanged.
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", service), service
    variables = {"service": service, **BUILT_IN_VARIABLES}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return variables.get(name, match.group(0))

    result = GRAFANA_VARIABLE.sub(replace, expr)
    unknown = {
        match.group(0)
        for match in GRAFANA_VARIABLE.finditer(result)
        if not (match.group(1) or "").isdigit()
    }
    assert not unknown, f"unknown Grafana variables {sorted(unknown)} in {expr}"
    return result


def range_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """Return (expr, step) of every query that Grafana sends as a range query: panel
    targets with range set, and annotations, which use their own step."""
    found = [
        (target["expr"], STEP)
        for panel in dashboard["panels"]
        for target in panel["targets"]
        if target.get("range")
    ]
    found += [
        (item["expr"], item.get("step", STEP))
        for item in dashboard["annotations"]["list"]
        if "expr" in item
    ]
    return found


def query_errors(
    prometheus: Prometheus,
    instant: list[str],
    ranged: list[tuple[str, str]],
) -> list[str]:
    """Send every query and return one line per rejected query or unexpected result type."""
    errors = []
    for expr in instant:
        body = prometheus.query(expr)
        if body["status"] != "success":
            errors.append(f"instant {expr}: {body['error']}")
        elif body["data"]["resultType"] != "vector":
            errors.append(f"instant {expr}: {body['data']['resultType']}, not vector")
    for expr, step in ranged:
        body = prometheus.query_range(expr, step)
        if body["status"] != "success":
            errors.append(f"range {expr}: {body['error']}")
    return errors


def _panel(dashboard: dict[str, Any], title: str) -> dict[str, Any]:
    return next(panel for panel in dashboard["panels"] if panel["title"] == title)


def _rows(prometheus: Prometheus, expr: str) -> list[dict[str, Any]]:
    body = prometheus.query(expr)
    assert body["status"] == "success", (expr, body.get("error"))
    return body["data"]["result"]


def _eventually(
    fetch: Callable[[], list[str]], expected: list[str], timeout: float
) -> list[str]:
    """Poll `fetch` until it returns `expected` or `timeout` seconds pass, and return
    its last result."""
    deadline = time.monotonic() + timeout
    result = fetch()
    while result != expected and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        result = fetch()
    return result


# --- tests -----------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [path.stem for path in SPECS])
def test_every_query_runs_for_every_service(
    prometheus: Prometheus, generated: dict[str, Output], spec: str
) -> None:
    output = generated[spec]
    instant: set[str] = set()
    ranged: set[tuple[str, str]] = set()
    for kind in ("control", "service"):
        dashboard = output.dashboard(kind)
        for service in output.services:
            instant |= {interpolate(expr, service) for expr in queries(dashboard)}
            ranged |= {
                (interpolate(expr, service), step)
                for expr, step in range_queries(dashboard)
            }
    assert instant
    assert ranged
    assert query_errors(prometheus, sorted(instant), sorted(ranged)) == []


def test_broken_queries_are_reported(prometheus: Prometheus) -> None:
    """The check above can fail: Prometheus rejects a range vector inside an aggregation
    in an instant query, and a range vector as a range query's result, which a panel
    would request and a PromQL parser alone accepts."""
    aggregation = "sum(service:requests:rate5m[5m])"
    matrix = "service:requests:rate5m[5m]"
    errors = query_errors(prometheus, [aggregation, matrix], [(matrix, STEP)])
    assert len(errors) == 3, errors
    assert errors[0].startswith(f"instant {aggregation}: ")
    assert "expected type instant vector" in errors[0]
    assert errors[1] == f"instant {matrix}: matrix, not vector"
    assert errors[2].startswith(f"range {matrix}: ")
    assert "range query" in errors[2]


@pytest.mark.parametrize("spec", [path.stem for path in SPECS])
def test_service_variable_lists_every_service(
    prometheus: Prometheus, generated: dict[str, Output], spec: str
) -> None:
    output = generated[spec]
    variables = output.dashboard("service")["templating"]["list"]
    (variable,) = [item for item in variables if item["name"] == "service"]
    match = LABEL_VALUES.fullmatch(variable["query"]["query"])
    assert match, variable["query"]["query"]

    def fetch() -> list[str]:
        body = prometheus.label_values(match["label"], match["selector"])
        assert body["status"] == "success", body
        return body["data"]

    # The health series that the variable reads come from the risk scores, which read
    # the threshold series. Each group has been evaluated once, but a group evaluated
    # before the threshold group records its series only one interval later.
    expected = sorted(output.services)
    assert _eventually(fetch, expected, timeout=READY_TIMEOUT_SECONDS / 2) == expected


@pytest.mark.parametrize("spec", [path.stem for path in SPECS])
def test_dependency_tables_list_the_spec_edges(
    prometheus: Prometheus, generated: dict[str, Output], spec: str
) -> None:
    """The two tables list each service's depends_on entries and its callers, read
    straight from the spec's YAML."""
    document = yaml.safe_load((REPO / "specs" / f"{spec}.yaml").read_text())
    edges = {
        (service["name"], dependency)
        for service in document["services"]
        for dependency in service.get("depends_on", [])
    }
    detail = generated[spec].dashboard("service")
    depends_on = _panel(detail, "Depends on")
    depended_on_by = _panel(detail, "Depended on by")
    if not edges:
        assert depends_on["type"] == "text"
        assert depended_on_by["type"] == "text"
        return
    (dependencies_target,) = depends_on["targets"]
    (callers_target,) = depended_on_by["targets"]
    for service in generated[spec].services:
        dependencies = _rows(
            prometheus, interpolate(dependencies_target["expr"], service)
        )
        assert sorted(row["metric"][naming.DEPENDENCY] for row in dependencies) == (
            sorted(dependency for caller, dependency in edges if caller == service)
        ), service
        callers = _rows(prometheus, interpolate(callers_target["expr"], service))
        assert sorted(row["metric"][naming.SERVICE] for row in callers) == (
            sorted(caller for caller, dependency in edges if dependency == service)
        ), service


def test_online_boutique_dependency_tables(
    prometheus: Prometheus, generated: dict[str, Output]
) -> None:
    detail = generated["online-boutique"].dashboard("service")
    (dependencies_target,) = _panel(detail, "Depends on")["targets"]
    (callers_target,) = _panel(detail, "Depended on by")["targets"]
    frontend = _rows(prometheus, interpolate(dependencies_target["expr"], "frontend"))
    assert {row["metric"][naming.DEPENDENCY] for row in frontend} == {
        "productcatalogservice",
        "currencyservice",
        "cartservice",
        "recommendationservice",
        "shippingservice",
        "checkoutservice",
        "adservice",
    }
    cart = _rows(prometheus, interpolate(callers_target["expr"], "cartservice"))
    assert {row["metric"][naming.SERVICE] for row in cart} == {
        "frontend",
        "checkoutservice",
    }


@pytest.mark.parametrize("spec", [path.stem for path in SPECS])
def test_runbooks_list_patterns_with_alerts(
    prometheus: Prometheus, generated: dict[str, Output], spec: str
) -> None:
    """The Runbooks table has one row per pattern that has an alert for the service in
    the generated rule files."""
    output = generated[spec]
    alerting = {
        (rule["labels"][naming.SERVICE], rule["labels"][naming.PATTERN])
        for group in output.rule_groups()
        for rule in group["rules"]
        if "alert" in rule
    }
    assert alerting
    (target,) = _panel(output.dashboard("service"), "Runbooks")["targets"]
    for service in output.services:
        rows = _rows(prometheus, interpolate(target["expr"], service))
        patterns = [row["metric"][naming.PATTERN] for row in rows]
        expected = sorted(pattern for name, pattern in alerting if name == service)
        assert sorted(patterns) == expected, service


def _threshold_targets(dashboard: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (panel["title"], target)
        for panel in dashboard["panels"]
        for target in panel["targets"]
        if target["expr"].startswith(naming.THRESHOLD + "{")
    ]


@pytest.mark.parametrize("spec", [path.stem for path in SPECS])
def test_drawn_levels_are_the_service_levels(
    prometheus: Prometheus, generated: dict[str, Output], spec: str
) -> None:
    """Each level line of the service dashboard returns one series, valued at the
    chosen service's own level of that signal."""
    output = generated[spec]
    targets = _threshold_targets(output.dashboard("service"))
    assert targets
    for service in output.bundle.plan.services:
        for title, target in targets:
            signal = re.search(r'signal="(\w+)"', target["expr"])[1]
            level = re.search(r'level="(\w+)"', target["expr"])[1]
            assert target["legendFormat"] == f"{level} level", title
            assert level in LEVEL_COLOURS, title
            rows = _rows(prometheus, interpolate(target["expr"], service.name))
            where = (service.name, title, level)
            assert len(rows) == 1, where
            assert rows[0]["metric"][naming.SERVICE] == service.name, where
            value = float(rows[0]["value"][1])
            assert value == service.thresholds[signal][level], where


def test_latency_levels_of_frontend(
    prometheus: Prometheus, generated: dict[str, Output]
) -> None:
    """online-boutique keeps the default p99/p50 levels: warning 5, critical 10."""
    panel = _panel(
        generated["online-boutique"].dashboard("service"), "p99/p50 latency ratio"
    )
    levels = {}
    for target in panel["targets"][1:]:
        (row,) = _rows(prometheus, interpolate(target["expr"], "frontend"))
        levels[target["legendFormat"]] = float(row["value"][1])
    assert levels == {"warning level": 5.0, "critical level": 10.0}


@pytest.mark.parametrize("spec", [path.stem for path in SPECS])
def test_runaway_threshold_is_the_highest_level(
    prometheus: Prometheus, generated: dict[str, Output], spec: str
) -> None:
    output = generated[spec]
    panel = _panel(
        output.dashboard("control"), "Path amplification against the runaway threshold"
    )
    target = next(
        t for t in panel["targets"] if t["legendFormat"] == "runaway threshold"
    )
    (row,) = _rows(prometheus, target["expr"])
    amplifying = {
        rule.labels[naming.SERVICE]
        for groups in output.bundle.rule_files.values()
        for group in groups
        for rule in group.rules
        if rule.record == output.bundle.plan.names.path_amplification
    }
    assert amplifying
    expected = max(
        service.thresholds["retry_amplification"]["critical"]
        for service in output.bundle.plan.services
        if service.name in amplifying
    )
    assert float(row["value"][1]) == expected
