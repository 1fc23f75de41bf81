"""The Grafana target: valid current-model dashboards whose queries read recorded series."""

from __future__ import annotations

import copy
import itertools
import json
import re
from pathlib import Path, PurePosixPath
from typing import Any

import promql_parser
import pytest
import yaml

from generator import tools
from generator.bundle import Bundle, build_bundle
from generator.plan import plan_system
from generator.spec.loader import load_spec
from generator.targets import grafana_dashboards
from generator.targets.grafana_dashboards import UID_MAX, dashboard_uid

REPO = Path(__file__).resolve().parent.parent
SPECS = sorted((REPO / "specs").glob("*.yaml"))
CURRENT_PANELS = {"timeseries", "stat", "gauge", "bargauge", "heatmap", "table", "text"}
# Fields of Grafana's Angular panels and of dashboards before schemaVersion 14 or so.
LEGACY_KEYS = {
    "aliasColors",
    "bars",
    "cacheTimeout",
    "colorBackground",
    "colorValue",
    "columns",
    "error",
    "fieldOptions",
    "fontSize",
    "gauge",
    "gnetId",
    "height",
    "hideControls",
    "intervalFactor",
    "lines",
    "minSpan",
    "nullPointMode",
    "rows",
    "seriesOverrides",
    "sharedCrosshair",
    "span",
    "sparkline",
    "style",
    "styles",
    "tagValuesQuery",
    "tagsQuery",
    "useTags",
    "valueName",
    "xaxis",
    "yaxes",
}
VARIABLES = {
    "$service": "frontend",
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
}


def _bundle(path: Path) -> Bundle:
    return build_bundle(plan_system(load_spec(path)))


def _view_of(tmp_path: Path, text: str) -> grafana_dashboards.View:
    """Return the dashboards' view of a spec written from `text`."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(text, encoding="utf-8")
    return grafana_dashboards.View.of(_bundle(spec))


@pytest.fixture(scope="module", params=SPECS, ids=lambda p: p.stem)
def generated(request: pytest.FixtureRequest) -> tuple[Bundle, dict[str, Any]]:
    bundle = _bundle(request.param)
    files = grafana_dashboards.render(bundle)
    dashboards = {
        path.name: json.loads(text)
        for path, text in files.items()
        if path.parts[:2] == ("grafana", "dashboards")
    }
    return bundle, dashboards


def recorded_series(bundle: Bundle) -> set[str]:
    return {
        rule.record
        for groups in bundle.rule_files.values()
        for group in groups
        for rule in group.rules
        if rule.record is not None
    }


def raw_metrics(bundle: Bundle) -> set[str]:
    return {
        selector.metric
        for service in bundle.plan.services
        for selector in service.selectors.values()
    }


def queries(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression of a dashboard: panel targets, annotations and the
    selectors inside label_values() of query variables."""
    found = [
        target["expr"] for panel in dashboard["panels"] for target in panel["targets"]
    ]
    found += [
        item["expr"] for item in dashboard["annotations"]["list"] if "expr" in item
    ]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]["query"]
            match = re.fullmatch(r"label_values\((.+), *\w+\)", query)
            assert match, query
            found.append(match.group(1))
    return found


def substitute(expr: str) -> str:
    for variable, value in VARIABLES.items():
        expr = expr.replace("${" + variable[1:] + "}", value).replace(variable, value)
    assert "$" not in expr.replace("$1", ""), f"unsubstituted variable in {expr}"
    return expr


def series_names(node: Any) -> set[str]:
    """Names of every vector selector in a parsed PromQL expression."""
    if isinstance(node, promql_parser.VectorSelector):
        return {node.name}
    names: set[str] = set()
    for attribute in ("lhs", "rhs", "expr", "param", "vector_selector"):
        child = getattr(node, attribute, None)
        if child is not None and not isinstance(child, str | int | float):
            names |= series_names(child)
    for child in getattr(node, "args", None) or ():
        names |= series_names(child)
    return names


def unknown_series(bundle: Bundle, dashboard: dict[str, Any]) -> set[str]:
    allowed = recorded_series(bundle) | raw_metrics(bundle) | {"ALERTS"}
    named: set[str] = set()
    for expr in queries(dashboard):
        node = promql_parser.parse(substitute(expr))
        names = series_names(node)
        assert names, f"no series found in {expr}"
        named |= names
    return named - allowed


def walk(value: Any, path: str = ""):
    """Yield (path, key, value) for every mapping entry, recursively."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield path, key, item
            yield from walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, f"{path}[{index}]")


def test_every_query_parses_and_reads_recorded_series(generated) -> None:
    bundle, dashboards = generated
    assert len(dashboards) == 2
    for name, dashboard in dashboards.items():
        assert unknown_series(bundle, dashboard) == set(), name


def test_cross_check_catches_an_unrecorded_series() -> None:
    bundle = _bundle(REPO / "specs" / "online-boutique.yaml")
    dashboard = grafana_dashboards.control_dashboard(grafana_dashboards.View.of(bundle))
    injected = copy.deepcopy(dashboard)
    panel = copy.deepcopy(injected["panels"][3])
    panel["targets"][0]["expr"] = (
        'rate(service:nothing_records_this:rate5m{system="online-boutique"}[5m])'
    )
    injected["panels"].append(panel)
    assert unknown_series(bundle, dashboard) == set()
    assert unknown_series(bundle, injected) == {"service:nothing_records_this:rate5m"}


def test_current_model_only(generated) -> None:
    _, dashboards = generated
    for name, dashboard in dashboards.items():
        assert dashboard["schemaVersion"] >= 39, name
        for key in ("uid", "title", "panels", "templating", "annotations", "time"):
            assert key in dashboard, (name, key)
        for panel in dashboard["panels"]:
            assert panel["type"] in CURRENT_PANELS, (name, panel["title"])
            assert panel["fieldConfig"]["defaults"]["unit"], (name, panel["title"])
        for path, key, value in walk(dashboard):
            assert key not in LEGACY_KEYS, f"{name}{path}: legacy field {key}"
            if key == "datasource":
                assert isinstance(value, dict), f"{name}{path}: datasource {value!r}"
                assert set(value) == {"type", "uid"}, f"{name}{path}"
            if key == "steps":
                assert all(set(step) == {"color", "value"} for step in value), path
            if value is None:
                # Null belongs only to a new dashboard's id and the base colour step.
                assert (path, key) == ("", "id") or key == "value", (
                    f"{name}{path}.{key}"
                )
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"


def test_panels_do_not_overlap_and_ids_are_unique(generated) -> None:
    _, dashboards = generated
    for name, dashboard in dashboards.items():
        panels = dashboard["panels"]
        ids = [panel["id"] for panel in panels]
        assert len(ids) == len(set(ids)), name
        cells = {}
        for panel in panels:
            pos = panel["gridPos"]
            assert pos["x"] + pos["w"] <= 24, (name, panel["title"])
            for x, y in itertools.product(
                range(pos["x"], pos["x"] + pos["w"]),
                range(pos["y"], pos["y"] + pos["h"]),
            ):
                assert (x, y) not in cells, (name, panel["title"], cells.get((x, y)))
                cells[(x, y)] = panel["title"]


def test_uids_are_short_stable_and_distinct() -> None:
    assert dashboard_uid("online-boutique", "control") == (
        "emergence-control-online-boutique"
    )
    long = "a" * 63
    uids = {dashboard_uid(long, kind) for kind in ("control", "service")}
    assert len(uids) == 2
    assert all(len(uid) <= UID_MAX for uid in uids)
    assert dashboard_uid(long, "control") == dashboard_uid(long, "control")
    assert dashboard_uid(long, "control") != dashboard_uid("a" * 62, "control")


def test_uids_of_the_examples(generated) -> None:
    bundle, dashboards = generated
    for dashboard in dashboards.values():
        assert len(dashboard["uid"]) <= UID_MAX
        assert bundle.name in dashboard["uid"]


def test_control_dashboard_has_the_named_panels(generated) -> None:
    bundle, dashboards = generated
    control = dashboards[f"{dashboard_uid(bundle.name, 'control')}.json"]
    titles = {panel["title"] for panel in control["panels"]}
    for title in (
        "Load against the phase transition",
        "Phase state",
        "Time to phase transition",
        "p99/p50 latency ratio",
        "Retry ratio",
        "GC time, worst instance",
        "Maximum partial correlation",
        "Likelihood: retry storm",
        "Likelihood: thundering herd",
        "Likelihood: death spiral",
        "Likelihood: synchronisation",
        "Service coupling matrix",
        "Path amplification now",
        "Risk score per service",
        "Health per service",
        "Firing emergence alerts",
    ):
        assert title in titles, (bundle.name, title)


def test_latency_ratio_colours_follow_the_default_levels() -> None:
    bundle = _bundle(REPO / "specs" / "online-boutique.yaml")
    control = grafana_dashboards.control_dashboard(grafana_dashboards.View.of(bundle))
    panel = next(p for p in control["panels"] if p["title"] == "p99/p50 latency ratio")
    assert panel["fieldConfig"]["defaults"]["thresholds"]["steps"] == [
        {"color": "green", "value": None},
        {"color": "yellow", "value": 5.0},
        {"color": "red", "value": 10.0},
    ]


def _panel(dashboard: dict[str, Any], title: str) -> dict[str, Any]:
    return next(p for p in dashboard["panels"] if p["title"] == title)


def test_coupling_matrix_has_both_orders(tmp_path: Path) -> None:
    """promtool evaluates the matrix query over one sample per recorded pair: every
    pair comes back in both orders with its value, and nothing else does."""
    bundle = _bundle(REPO / "specs" / "online-boutique.yaml")
    control = grafana_dashboards.control_dashboard(grafana_dashboards.View.of(bundle))
    panel = _panel(control, "Service coupling matrix")
    assert panel["type"] == "table"
    (transformation,) = panel["transformations"]
    assert transformation["id"] == "groupingToMatrix"
    assert transformation["options"]["rowField"] == "service_a"
    assert transformation["options"]["columnField"] == "service_b"
    (target,) = panel["targets"]
    name = bundle.plan.names.pair_partial
    pairs = [
        (rule.labels["service_a"], rule.labels["service_b"])
        for group in bundle.rule_files["synchronisation"]
        for rule in group.rules
        if rule.record == name
    ]
    assert bundle.plan.pairs and set(pairs) == set(bundle.plan.pairs)

    def labels(a: str, b: str) -> str:
        return f'{{service_a="{a}", service_b="{b}", system="online-boutique"}}'

    values = {pair: round(0.01 * (i + 1), 2) for i, pair in enumerate(pairs)}
    expected = [
        {"labels": name + labels(*pair), "value": value}
        for (a, b), value in values.items()
        for pair in ((a, b), (b, a))
    ]
    document = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": name + labels(a, b), "values": f"{value}x2"}
                    for (a, b), value in values.items()
                ],
                "promql_expr_test": [
                    {"expr": target["expr"], "eval_time": "1m", "exp_samples": expected}
                ],
            }
        ],
    }
    test_file = tmp_path / "matrix.test.yaml"
    test_file.write_text(yaml.safe_dump(document), encoding="utf-8")
    tools.test_rules([test_file])
    # A query that drops the swapped copy fails the same test.
    document["tests"][0]["promql_expr_test"][0]["expr"] = target["expr"].split(" or ")[
        0
    ]
    test_file.write_text(yaml.safe_dump(document), encoding="utf-8")
    with pytest.raises(tools.CheckFailed):
        tools.test_rules([test_file])


OVERRIDDEN = """apiVersion: emergence-ops/v1
name: levels
services:
  - name: api
    depends_on: [db]
    thresholds:
      latency_ratio: {warning: 3, critical: 4}
  - name: db
"""


def test_control_colours_per_service(tmp_path: Path) -> None:
    control = grafana_dashboards.control_dashboard(_view_of(tmp_path, OVERRIDDEN))
    panel = _panel(control, "p99/p50 latency ratio")

    assert panel["fieldConfig"]["defaults"]["thresholds"]["steps"] == [
        {"color": "green", "value": None},
        {"color": "yellow", "value": 5.0},
        {"color": "red", "value": 10.0},
    ]

    # Only api differs from the defaults. Its series is named by the legend {{service}}.
    assert panel["targets"][0]["legendFormat"] == "{{service}}"
    (override,) = panel["fieldConfig"]["overrides"]
    assert override["matcher"] == {"id": "byName", "options": "api"}
    assert override["properties"] == [
        {
            "id": "thresholds",
            "value": {
                "mode": "absolute",
                "steps": [
                    {"color": "green", "value": None},
                    {"color": "yellow", "value": 3.0},
                    {"color": "red", "value": 4.0},
                ],
            },
        }
    ]

    # Panels of other signals keep the defaults for both services.
    assert _panel(control, "Retry ratio")["fieldConfig"]["overrides"] == []


def test_timeseries_colour_by_level_where_levels_differ(tmp_path: Path) -> None:
    """Grafana draws the threshold bands of a time series panel from its first series
    only, so a panel whose services' levels differ colours each line by its own levels."""
    control = grafana_dashboards.control_dashboard(_view_of(tmp_path, OVERRIDDEN))
    differing = _panel(control, "p99/p50 latency ratio")["fieldConfig"]["defaults"]
    assert differing["color"] == {"mode": "thresholds"}
    assert differing["custom"]["gradientMode"] == "scheme"
    assert differing["custom"]["thresholdsStyle"] == {"mode": "off"}

    uniform = _panel(control, "Retry ratio")["fieldConfig"]["defaults"]
    assert uniform["color"] == {"mode": "palette-classic"}
    assert uniform["custom"]["thresholdsStyle"] == {"mode": "line+area"}


def test_shared_levels_keep_their_bands(tmp_path: Path) -> None:
    """Services that all set the same levels, other than the defaults, share one set of
    steps and keep the threshold bands."""
    control = grafana_dashboards.control_dashboard(
        _view_of(
            tmp_path,
            "apiVersion: emergence-ops/v1\nname: one\nservices:\n  - name: api\n"
            "    thresholds:\n      latency_ratio: {warning: 3, critical: 4}\n",
        )
    )
    panel = _panel(control, "p99/p50 latency ratio")
    defaults = panel["fieldConfig"]["defaults"]

    assert [step["value"] for step in defaults["thresholds"]["steps"]] == [None, 3, 4]
    assert panel["fieldConfig"]["overrides"] == []
    assert defaults["custom"]["thresholdsStyle"] == {"mode": "line+area"}


def test_services_without_the_series_set_no_colours(tmp_path: Path) -> None:
    """A service that records no p99/p50 ratio, because it disables latency_ratio, adds
    no override to that panel, whatever its levels."""
    control = grafana_dashboards.control_dashboard(
        _view_of(
            tmp_path,
            OVERRIDDEN.replace(
                "    depends_on: [db]\n",
                "    depends_on: [db]\n    disable: [latency_ratio]\n",
            ),
        )
    )
    panel = _panel(control, "p99/p50 latency ratio")

    assert [
        s["value"] for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    ] == [
        None,
        5,
        10,
    ]
    assert panel["fieldConfig"]["overrides"] == []


def test_panels_without_load_are_text(tmp_path: Path) -> None:
    """With no service that records load, the phase panels explain the gap instead of
    querying series that do not exist."""
    spec = tmp_path / "noload.yaml"
    spec.write_text(
        "apiVersion: emergence-ops/v1\nname: noload\nservices:\n"
        "  - name: api\n    disable: [phase_transition]\n",
        encoding="utf-8",
    )
    bundle = _bundle(spec)
    view = grafana_dashboards.View.of(bundle)
    control = grafana_dashboards.control_dashboard(view)
    for title in (
        "Load against the phase transition",
        "Phase state",
        "Time to phase transition",
    ):
        panel = _panel(control, title)
        assert panel["type"] == "text", title
        assert "load signal" in panel["options"]["content"], title
    detail = grafana_dashboards.service_dashboard(view)
    assert _panel(detail, "Phase state")["type"] == "text"
    for dashboard in (control, detail):
        assert unknown_series(bundle, dashboard) == set()


def test_system_risk_colours_use_the_lowest_levels(tmp_path: Path) -> None:
    """The system's health compares its risk with the lowest levels any service sets,
    and the system risk panel turns yellow and red at the same levels."""
    control = grafana_dashboards.control_dashboard(
        _view_of(
            tmp_path,
            OVERRIDDEN.replace(
                "  - name: db\n",
                "  - name: db\n    thresholds:\n      risk: {warning: 20, critical: 50}\n",
            ),
        )
    )
    panel = _panel(control, "System risk score")
    assert panel["fieldConfig"]["defaults"]["thresholds"]["steps"] == [
        {"color": "green", "value": None},
        {"color": "yellow", "value": 20.0},
        {"color": "red", "value": 50.0},
    ]
    assert panel["fieldConfig"]["overrides"] == []


def test_level_lines_cannot_match_a_service(tmp_path: Path) -> None:
    """A service named like a level keeps its own line style: level lines have a
    legend with a space, which no service name has."""
    detail = grafana_dashboards.service_dashboard(
        _view_of(
            tmp_path,
            "apiVersion: emergence-ops/v1\nname: names\nservices:\n"
            "  - name: warning\n    depends_on: [critical]\n  - name: critical\n",
        )
    )
    panel = _panel(detail, "p99/p50 latency ratio")
    legends = [target["legendFormat"] for target in panel["targets"]]
    assert legends == ["{{service}}", "warning level", "critical level"]
    matched = [o["matcher"]["options"] for o in panel["fieldConfig"]["overrides"]]
    assert matched == ["warning level", "critical level"]


def test_service_tables_filter_by_service() -> None:
    bundle = _bundle(REPO / "specs" / "online-boutique.yaml")
    detail = grafana_dashboards.service_dashboard(grafana_dashboards.View.of(bundle))
    uid = dashboard_uid(bundle.name, "service")
    for title, matcher, column, link in (
        ("Depends on", 'service="$service"', "dependency", f"/d/{uid}?var-service="),
        (
            "Depended on by",
            'dependency="$service"',
            "service",
            f"/d/{uid}?var-service=",
        ),
        ("Runbooks", 'service="$service"', "pattern", "https://"),
    ):
        panel = _panel(detail, title)
        (target,) = panel["targets"]
        assert matcher in target["expr"], title
        assert target["instant"] is True
        (transformation,) = panel["transformations"]
        assert transformation["options"]["include"]["names"] == [column]
        (override,) = panel["fieldConfig"]["overrides"]
        assert override["matcher"]["options"] == column
        (url,) = [item["url"] for item in override["properties"][0]["value"]]
        assert url.startswith(link), url
    runbook = _panel(detail, "Runbooks")["fieldConfig"]["overrides"][0]
    assert runbook["properties"][0]["value"][0]["url"].endswith(
        "/${__value.raw}#${service}"
    )


def test_provisioning_files() -> None:
    bundle = _bundle(REPO / "specs" / "online-boutique.yaml")
    files = grafana_dashboards.render(bundle)
    provider = yaml.safe_load(
        files[PurePosixPath("grafana/provisioning/dashboards/emergence.yaml")]
    )
    (entry,) = provider["providers"]
    assert entry["type"] == "file"
    assert entry["folder"] == "Emergence"
    assert entry["options"]["path"] == (
        "/var/lib/grafana/dashboards/emergence/online-boutique"
    )
    sources = yaml.safe_load(
        files[PurePosixPath("grafana/provisioning/datasources/prometheus.yaml")]
    )
    (source,) = sources["datasources"]
    assert source["url"] == "http://prometheus:9090"
    assert source["name"] == "Prometheus (online-boutique)"
    assert source["uid"] == "emergence-online-boutique"
    # Grafana rejects a second default, so the provisioned one is not the default.
    assert source["isDefault"] is False
    # Each dashboard's datasource variable starts at the provisioned datasource.
    for path, content in files.items():
        if path.suffix == ".json":
            variable = json.loads(content)["templating"]["list"][0]
            assert variable["type"] == "datasource"
            assert variable["current"] == {
                "text": source["name"],
                "value": source["uid"],
            }


def test_deterministic() -> None:
    path = REPO / "specs" / "all-patterns.yaml"
    assert grafana_dashboards.render(_bundle(path)) == grafana_dashboards.render(
        _bundle(path)
    )


def test_spec_settings_reach_the_output(tmp_path: Path) -> None:
    name = "a" + "-b" * 30 + "c"
    spec = tmp_path / "long.yaml"
    spec.write_text(
        "apiVersion: emergence-ops/v1\n"
        f"name: {name}\n"
        "grafana:\n"
        "  folder: Reliability $HOME\n"
        "  datasource_url: http://prom.monitoring:9090/${PATH}\n"
        "  tags: [shop]\n"
        "services:\n"
        "  - name: api\n",
        encoding="utf-8",
    )
    files = grafana_dashboards.render(_bundle(spec))
    dashboards = [
        json.loads(text) for path, text in files.items() if path.suffix == ".json"
    ]
    assert {len(d["uid"]) <= UID_MAX for d in dashboards} == {True}
    assert {tuple(d["tags"]) for d in dashboards} == {(name, "shop")}
    provider = yaml.safe_load(
        files[PurePosixPath("grafana/provisioning/dashboards/emergence.yaml")]
    )
    # Grafana expands $NAME in provisioning files, and $$ is its literal $.
    assert provider["providers"][0]["folder"] == "Reliability $$HOME"
    sources = yaml.safe_load(
        files[PurePosixPath("grafana/provisioning/datasources/prometheus.yaml")]
    )
    assert sources["datasources"][0]["url"] == "http://prom.monitoring:9090/$${PATH}"
