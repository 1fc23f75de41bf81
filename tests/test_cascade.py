"""The cascade's expansion: which services get the alert, what it counts, its tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from generator import tools
from generator.bundle import Bundle, build_bundle
from generator.output import write_tree
from generator.plan import plan_system
from generator.scenarios import cascade
from generator.spec import load_spec
from generator.spec.models import PatternId
from generator.targets import render_bundle

PART = "cascade"

SPEC = """\
apiVersion: emergence-ops/v1
name: shop
services:
  - name: web
    depends_on: [cart, catalog, auth]
  - name: cart
    depends_on: [db]
  - name: catalog
    protocol: grpc
  - name: auth
  - name: db
    profile: custom
  - name: no-latency
    depends_on: [cart, catalog]
    disable: [latency_ratio]
  - name: strict
    depends_on: [cart, catalog]
    thresholds: {cascade: {dependencies: 3}}
"""


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    path = tmp_path_factory.mktemp("spec") / "shop.yaml"
    path.write_text(SPEC, encoding="utf-8")
    return build_bundle(plan_system(load_spec(path)))


def _rules(bundle: Bundle, service: str) -> dict[str, str]:
    """Return {record or alert name: expression} of one service's cascade rules."""
    return {
        rule.record or rule.alert or "": rule.expr
        for group in bundle.rule_files[PART]
        for rule in group.rules
        if rule.labels["service"] == service
    }


def _services(bundle: Bundle, alerts: bool) -> set[str]:
    return {
        rule.labels["service"]
        for group in bundle.rule_files[PART]
        for rule in group.rules
        if (rule.alert is not None) == alerts
    }


def test_alert_needs_enough_dependencies(shop: Bundle) -> None:
    assert _services(shop, alerts=True) == {"web", "no-latency"}


def test_error_ratio_recorded_everywhere(shop: Bundle) -> None:
    recorded = {"web", "cart", "catalog", "auth", "no-latency", "strict"}
    assert _services(shop, alerts=False) == recorded


def test_missing_errors_warns(shop: Bundle) -> None:
    warnings = [w for w in shop.plan.warnings if f"pattern {PART}" in w]
    assert any("'db'" in w and "requests, errors" in w for w in warnings)


def test_alert_counts_direct_dependencies(shop: Bundle) -> None:
    alert = _rules(shop, "web")["EmergenceCascadeCritical"]
    assert 'service=~"cart|catalog|auth"' in alert
    assert 'pattern!~"cascade|signal_missing"' in alert
    assert 'severity="critical"' in alert
    assert 'alertstate="firing"' in alert
    assert "count by (system, service)" in alert
    assert 'signal="cascade", level="dependencies"' in alert


def test_latency_slope_read_where_recorded(shop: Bundle) -> None:
    names = shop.plan.names
    assert names.latency_ratio_slope in _rules(shop, "web")["EmergenceCascadeCritical"]
    alert = _rules(shop, "no-latency")["EmergenceCascadeCritical"]
    assert names.latency_ratio_slope not in alert
    assert names.error_ratio_slope in alert


def test_grpc_errors_by_status(shop: Bundle) -> None:
    errors = _rules(shop, "catalog")[shop.plan.names.errors]
    assert 'grpc_response_status=~"[1-9][0-9]*"' in errors
    assert "response_code" not in errors


def test_tests_load_latency_rules(shop: Bundle) -> None:
    assert shop.test_rule_files[PART] == [
        "thresholds",
        "traffic",
        "latency_ratio",
        PART,
    ]


def test_dependency_counted_once() -> None:
    timing = cascade.Timing(alerts_start=2, rise_start=3, alerts_end=5, steps=8)
    alerts = (
        cascade.DependencyAlert("cart", PatternId.LATENCY_RATIO, "critical"),
        cascade.DependencyAlert("cart", PatternId.RETRY_STORM, "critical"),
        cascade.DependencyAlert("auth", PatternId.CASCADE, "critical"),
        cascade.DependencyAlert("auth", PatternId.SIGNAL_MISSING, "critical"),
        cascade.DependencyAlert("catalog", PatternId.RETRY_STORM, "warning"),
    )
    assert cascade._failing(alerts, timing, 3) == 1
    assert cascade._failing(alerts, timing, 1) == 0
    assert cascade._failing(alerts, timing, 5) == 0


def test_stories_both_sides(shop: Bundle) -> None:
    stories = cascade.stories(shop.plan.service("web"))
    firing = [story.name for story in stories if story.expect_firing]
    silent = [story.name for story in stories if not story.expect_firing]
    assert firing == [
        "2 critical dependencies, errors rising",
        "2 critical dependencies, latency rising, errors flat",
    ]
    assert "1 critical dependency, errors rising" in silent
    assert "2 critical dependencies, errors and latency flat" in silent


def test_scenarios_pass_promtool(shop: Bundle, tmp_path: Path) -> None:
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not on PATH")
    write_tree(render_bundle(shop), tmp_path)
    tests = tmp_path / "shop" / "prometheus" / "tests" / f"{PART}.test.yaml"
    assert "SUCCESS" in tools.test_rules([tests])
