"""The committed out/ and a fresh generation, through the real promtool."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from generator import tools
from generator.bundle import build_bundles
from generator.output import write_tree
from generator.spec import load_specs
from generator.targets import render_bundle

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml"))


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("out")
    for bundle in build_bundles(load_specs(SPECS)):
        write_tree(render_bundle(bundle), folder)
    return folder


def test_promtool_version_printed(capsys: pytest.CaptureFixture[str]) -> None:
    version = tools.promtool_version()
    print(version)
    assert version.startswith("promtool, version")


@pytest.mark.parametrize("spec", [path.stem for path in SPECS])
def test_rules_pass_promtool_check(generated: Path, spec: str) -> None:
    files = sorted((generated / spec / "prometheus" / "rules").glob("*.rules.yaml"))
    assert files, "no rule files generated"
    tools.check_rules(files)


@pytest.mark.parametrize("spec", [path.stem for path in SPECS])
def test_generated_tests_pass_promtool(generated: Path, spec: str) -> None:
    files = sorted((generated / spec / "prometheus" / "tests").glob("*.test.yaml"))
    assert files, "no promtool test files generated"
    report = tools.test_rules(files)
    assert "SUCCESS" in report


def test_each_example_pattern_has_alerts(generated: Path) -> None:
    text = "".join(
        p.read_text() for p in (generated / "online-boutique").rglob("*.rules.yaml")
    )
    for alert in (
        "EmergenceLatencyRatioWarning",
        "EmergencePhaseTransitionCritical",
        "EmergenceRetryStormCritical",
        "EmergenceRetryAmplificationCritical",
        "EmergenceSynchronisationWarning",
    ):
        assert f"alert: {alert}" in text, alert


def test_key_recordings_exist(generated: Path) -> None:
    text = "".join(
        p.read_text() for p in (generated / "online-boutique").rglob("*.rules.yaml")
    )
    for record in (
        "service:latency_p99_p50:ratio_rate5m",
        "service:retry_amplification:ratio_rate5m",
        "service:retry_path_amplification:ratio_rate5m",
        "pair:requests:partial_correlation_delta_rate1m_30m",
    ):
        assert f"record: {record}" in text, record


def test_topology_series_match_the_spec(generated: Path) -> None:
    """The dependency info series are the spec file's depends_on lists, read here
    straight from the YAML, and the pattern info series name the patterns that have
    alerts for the service."""
    spec = yaml.safe_load((ROOT / "specs" / "online-boutique.yaml").read_text())
    edges = {
        (service["name"], dependency)
        for service in spec["services"]
        for dependency in service.get("depends_on", [])
    }
    folder = generated / "online-boutique" / "prometheus" / "rules"
    (topology,) = yaml.safe_load((folder / "topology.rules.yaml").read_text())["groups"]

    recorded = {
        (rule["labels"]["service"], rule["labels"]["dependency"])
        for rule in topology["rules"]
        if rule["record"] == "service:emergence_dependency:info"
    }
    assert edges
    assert recorded == edges

    alerting = {
        (rule["labels"]["service"], rule["labels"]["pattern"])
        for path in folder.glob("*.rules.yaml")
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    patterns = {
        (rule["labels"]["service"], rule["labels"]["pattern"])
        for rule in topology["rules"]
        if rule["record"] == "service:emergence_pattern:info"
    }
    assert alerting
    assert patterns == alerting


def _series_values(text: str) -> list[float]:
    """Expand promtool's 'a+bxn' notation (the generated files use only this and plain numbers)."""
    values: list[float] = []
    for token in text.split():
        match = re.fullmatch(r"(-?[\d.e+-]+?)([+-][\d.e+-]+)x(\d+)", token)
        if match:
            start, step, count = float(match[1]), float(match[2]), int(match[3])
            value = start
            values.append(value)
            for _ in range(count):
                value += step
                values.append(value)
        else:
            values.append(float(token))
    return values


def test_partial_correlation_matches_numpy(generated: Path) -> None:
    """The healthy fan-out's expected partial correlation, recomputed with numpy.corrcoef
    over exactly the 121 samples Prometheus 2.42 takes into a closed 30m window."""
    path = (
        generated
        / "online-boutique"
        / "prometheus"
        / "tests"
        / "synchronisation.test.yaml"
    )
    document = yaml.safe_load(path.read_text())
    healthy = document["tests"][0]
    counters = {}
    for item in healthy["input_series"]:
        workload = re.search(r'destination_workload="([^"]+)"', item["series"])[1]
        counters[workload] = np.array(_series_values(item["values"]))
    check = next(
        c for c in healthy["promql_expr_test"] if "partial_correlation" in c["expr"]
    )
    a = re.search(r'service_a="([^"]+)"', check["expr"])[1]
    b = re.search(r'service_b="([^"]+)"', check["expr"])[1]
    expected = float(re.search(r" - ([-\d.e]+)\) < bool", check["expr"])[1])

    step, window = 15, 60  # evaluation interval and short window, in seconds
    lag = window // step

    def delta(values: np.ndarray) -> np.ndarray:
        rates = (
            values[lag:] - values[:-lag]
        ) / window  # full 1m windows from step 4 on
        return np.diff(rates)

    x, y, e = delta(counters[a]), delta(counters[b]), delta(counters["frontend"])
    samples = 30 * 60 // step + 1
    x, y, e = x[-samples:], y[-samples:], e[-samples:]
    r = np.corrcoef([x, y, e])
    partial = (r[0, 1] - r[0, 2] * r[1, 2]) / np.sqrt(
        (1 - r[0, 2] ** 2) * (1 - r[1, 2] ** 2)
    )

    assert len(x) == 121
    assert abs(partial - expected) < 1e-6
    assert r[0, 1] > 0.9, "plain correlation should be near 1 in the healthy fan-out"
    assert partial < 0.7


@pytest.mark.parametrize(
    "services",
    [
        pytest.param("[{name: a}, {name: b}]", id="two-entries"),
        pytest.param(
            "[{name: a, depends_on: [c]}, {name: b, depends_on: [c]}, {name: c}]",
            id="two-entries-shared-backend",
        ),
        pytest.param(
            "[{name: a, depends_on: [c, d]}, {name: b, depends_on: [c, d]}, {name: c}, {name: d}]",
            id="two-entries-fan-out",
        ),
    ],
)
def test_synchronisation_tests_with_several_entries(
    tmp_path: Path, services: str
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f"apiVersion: emergence-ops/v1\nname: multi\nservices: {services}\n"
    )
    for bundle in build_bundles(load_specs([spec])):
        write_tree(render_bundle(bundle), tmp_path / "out")

    test_file = (
        tmp_path
        / "out"
        / "multi"
        / "prometheus"
        / "tests"
        / "synchronisation.test.yaml"
    )

    assert test_file.exists()
    assert "SUCCESS" in tools.test_rules([test_file])


@pytest.mark.parametrize(
    "service",
    [
        pytest.param(
            "{name: api, capacity: {requests_per_second: 100}, disable: [latency_ratio]}",
            id="latency-ratio-disabled",
        ),
        pytest.param(
            "{name: api, profile: custom, capacity: {requests_per_second: 100}, "
            "signals: {requests: http_requests_total}}",
            id="no-latency",
        ),
        pytest.param(
            "{name: api, profile: custom, capacity: {cpu_limit_cores: 2}, "
            "signals: {latency: job_duration_seconds_bucket, "
            "cpu_usage: container_cpu_usage_seconds_total}}",
            id="no-requests",
        ),
    ],
)
def test_phase_transition_tests_critical_blocked(tmp_path: Path, service: str) -> None:
    # The critical alert cannot fire for this service, so its generated tests must
    # expect it to stay silent.
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f"apiVersion: emergence-ops/v1\nname: phase\nservices: [{service}]\n"
    )
    for bundle in build_bundles(load_specs([spec])):
        write_tree(render_bundle(bundle), tmp_path / "out")

    test_file = (
        tmp_path
        / "out"
        / "phase"
        / "prometheus"
        / "tests"
        / "phase_transition.test.yaml"
    )

    assert "silent because the alert cannot fire" in test_file.read_text()
    assert "SUCCESS" in tools.test_rules([test_file])
