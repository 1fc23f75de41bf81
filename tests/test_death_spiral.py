"""The death spiral's expansion: which services get it, their GC selectors, its tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.bundle import Bundle, build_bundle
from generator.plan import plan_system
from generator.scenarios import death_spiral
from generator.scenarios.cases import ScenarioError
from generator.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent
PART = "death_spiral"

SPEC = """\
apiVersion: emergence-ops/v1
name: shop
services:
  - name: go-api
    runtime: go
    depends_on: [java-api, python-api, no-runtime, no-ratio, opted-out]
  - name: java-api
    runtime: jvm-micrometer
  - name: python-api
    runtime: python
  - name: no-runtime
  - name: no-ratio
    runtime: nodejs
    disable: [latency_ratio]
  - name: opted-out
    runtime: dotnet
    disable: [death_spiral]
"""


def _bundle(path: Path) -> Bundle:
    return build_bundle(plan_system(load_spec(path)))


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    path = tmp_path_factory.mktemp("spec") / "shop.yaml"
    path.write_text(SPEC, encoding="utf-8")
    return _bundle(path)


def _alerted(bundle: Bundle) -> set[str]:
    return {
        rule.labels["service"]
        for group in bundle.rule_files.get(PART, [])
        for rule in group.rules
        if rule.alert is not None
    }


def _recording(bundle: Bundle, service: str) -> str:
    return next(
        rule.expr
        for group in bundle.rule_files[PART]
        for rule in group.rules
        if rule.record is not None and rule.labels["service"] == service
    )


def test_services_with_gc_metric_covered(shop: Bundle) -> None:
    assert _alerted(shop) == {"go-api", "java-api"}


def test_missing_gc_metric_warns(shop: Bundle) -> None:
    warnings = [w for w in shop.plan.warnings if "pattern death_spiral" in w]
    assert any("'python-api'" in w and "no source for gc_time" in w for w in warnings)
    assert any("'no-runtime'" in w and "no source for gc_time" in w for w in warnings)


def test_disabled_latency_ratio_warns(shop: Bundle) -> None:
    warnings = [w for w in shop.plan.warnings if "'no-ratio'" in w]
    assert any("pattern latency_ratio is disabled" in w for w in warnings)


def test_disabled_service_not_warned(shop: Bundle) -> None:
    assert not any(
        "'opted-out'" in w and "death_spiral" in w for w in shop.plan.warnings
    )


def test_gc_time_uses_runtime_metric(shop: Bundle) -> None:
    go = _recording(shop, "go-api")
    java = _recording(shop, "java-api")
    assert go.startswith("max(sum by (pod, instance) (rate(go_gc_duration_seconds_sum{")
    assert "jvm_gc_pause_seconds_sum{" in java
    assert "[5m]" in go


def test_alert_needs_rising_latency_and_gate(shop: Bundle) -> None:
    alerts = [
        rule
        for group in shop.rule_files[PART]
        for rule in group.rules
        if rule.alert is not None and rule.labels["service"] == "go-api"
    ]
    assert [a.labels["severity"] for a in alerts] == ["warning", "critical"]
    for alert in alerts:
        assert "service:latency_p99_p50:deriv15m" in alert.expr
        assert "> 0" in alert.expr
        assert 'level="gate"' in alert.expr
        assert alert.for_seconds == 120


def test_tests_load_latency_ratio_rules(shop: Bundle) -> None:
    assert shop.test_rule_files[PART] == [
        "thresholds",
        "traffic",
        "latency_ratio",
        PART,
    ]


def test_scenarios_cover_both_sides(shop: Bundle) -> None:
    names = [case.name for case in shop.tests[PART]]
    for severity in ("warning", "critical"):
        assert any(f"{severity} above" in name for name in names)
        assert any(f"{severity} below" in name for name in names)
    assert any("flat latency ratio" in name for name in names)
    assert any("falling latency ratio" in name for name in names)
    assert any("below the request gate" in name for name in names)
    assert any(name.startswith("idle") for name in names)


def test_gc_series_for_two_instances(shop: Bundle) -> None:
    series = [
        entry["series"]
        for entry in shop.tests[PART][0].input_series
        if entry["series"].startswith("go_gc_duration_seconds_sum")
    ]
    assert len(series) == 2
    assert any('instance="10.0.0.1:9090"' in text for text in series)


def test_constant_ratio_slope_is_zero() -> None:
    points = [(float(15 * i), 0.1) for i in range(61)]
    assert death_spiral._slope(points) == 0.0


def test_tiny_slope_rejected(shop: Bundle) -> None:
    service = shop.plan.service("go-api")
    signals = death_spiral.Signals(gc_time=0.9, ratio=5.0, slope=1e-12, observed=10.0)
    with pytest.raises(ScenarioError, match="too close to 0"):
        death_spiral.condition(service, "warning", signals)


def test_all_patterns_spec_covers_jvm_and_dotnet() -> None:
    bundle = _bundle(ROOT / "specs" / "all-patterns.yaml")
    assert _alerted(bundle) == {"gateway", "orders", "search", "catalog", "payments"}
