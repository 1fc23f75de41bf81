"""The metastable failure's expansion: coverage, branches, window checks and its tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.bundle import Bundle, build_bundle
from generator.errors import SpecErrors
from generator.plan import plan_system
from generator.scenarios import metastable
from generator.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent
PART = "metastable"

SPEC = """\
apiVersion: emergence-ops/v1
name: shop
services:
  - name: api
    capacity: {requests_per_second: 100}
    depends_on: [no-retries, no-latency, no-load, no-degradation]
  - name: no-retries
    capacity: {requests_per_second: 100}
    disable: [retry_storm]
  - name: no-latency
    capacity: {requests_per_second: 100}
    disable: [latency_ratio]
  - name: no-load
    profile: custom
    signals:
      requests: http_requests_total{job="no-load"}
      retries: http_retries_total{job="no-load"}
  - name: no-degradation
    capacity: {cpu_limit_cores: 1}
    disable: [retry_storm, latency_ratio]
"""


def _write(folder: Path, text: str) -> Path:
    path = folder / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _bundle(path: Path) -> Bundle:
    return build_bundle(plan_system(load_spec(path)))


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return _bundle(_write(tmp_path_factory.mktemp("spec"), SPEC))


def _alert(bundle: Bundle, service: str) -> str:
    return next(
        rule.expr
        for group in bundle.rule_files[PART]
        for rule in group.rules
        if rule.alert is not None and rule.labels["service"] == service
    )


def _warnings(bundle: Bundle, service: str) -> list[str]:
    return [
        w for w in bundle.plan.warnings if f"'{service}'" in w and "metastable" in w
    ]


def test_covered_services(shop: Bundle) -> None:
    alerted = {
        rule.labels["service"]
        for group in shop.rule_files[PART]
        for rule in group.rules
        if rule.alert is not None
    }
    assert alerted == {"api", "no-retries", "no-latency"}


def test_missing_load_warns(shop: Bundle) -> None:
    assert any("capacity.requests_per_second" in w for w in _warnings(shop, "no-load"))


def test_missing_degradation_warns(shop: Bundle) -> None:
    assert any("retries with requests" in w for w in _warnings(shop, "no-degradation"))


def test_both_branches(shop: Bundle) -> None:
    expr = _alert(shop, "api")
    assert "service:retry_ratio:rate5m" in expr
    assert "service:latency_p99_p50:ratio_rate5m" in expr
    assert "max_over_time(service:load:ratio_rate5m" in expr
    assert "[10m]" in expr
    assert "[30m]" in expr


def test_branch_left_out_when_disabled(shop: Bundle) -> None:
    assert "retry_ratio" not in _alert(shop, "no-retries")
    assert "latency_p99_p50" not in _alert(shop, "no-latency")
    assert "or on" not in _alert(shop, "no-latency")


def test_tests_load_read_rules(shop: Bundle) -> None:
    assert shop.test_rule_files[PART] == [
        "thresholds",
        "traffic",
        "latency_ratio",
        "phase_transition",
        "retry_storm",
        PART,
    ]


def test_scenarios_fire_and_stay_silent(shop: Bundle) -> None:
    names = [case.name for case in shop.tests[PART]]
    assert any("retry ratio stays above" in n and "fires" in n for n in names)
    assert any("retry ratio drops below" in n and "silent" in n for n in names)
    assert any("latency ratio stays above" in n and "fires" in n for n in names)
    assert any("never passed its critical level" in n for n in names)
    assert any("stays overloaded" in n for n in names)
    assert any(n.startswith("idle") for n in names)


def test_window_max_includes_both_ends() -> None:
    values = [None, 1.0, 5.0, 2.0, 3.0]
    assert metastable._window_max(values, 4, 1) == 3.0
    assert metastable._window_max(values, 4, 2) == 5.0
    assert metastable._window_max(values, 0, 3) is None


def test_calm_not_shorter_than_lookback_rejected(tmp_path: Path) -> None:
    text = SPEC.replace(
        "services:\n", "windows: {calm: 30m, lookback: 30m}\nservices:\n", 1
    )
    with pytest.raises(SpecErrors) as raised:
        load_spec(_write(tmp_path, text))
    message = str(raised.value)
    assert "windows.calm" in message
    assert "not shorter than lookback 30m" in message


def test_long_for_warns_and_skips_firing_cases(tmp_path: Path) -> None:
    text = SPEC.replace(
        "services:\n",
        "defaults:\n  alerts: {metastable: {for: 20m}}\nservices:\n",
        1,
    )
    bundle = _bundle(_write(tmp_path, text))
    assert any("the metastable alert never fires" in w for w in bundle.plan.warnings)
    assert any("cover only silent cases" in w for w in bundle.plan.warnings)
    assert not any("fires for" in case.name for case in bundle.tests[PART])
