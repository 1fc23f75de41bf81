"""The thundering herd's expansion: which services get it, how connections are measured."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from generator import tools
from generator.bundle import Bundle, build_bundle
from generator.output import write_tree
from generator.plan import plan_system
from generator.rendering import render, service_context, system_context
from generator.scenarios import model
from generator.scenarios import thundering_herd as herd
from generator.spec import load_spec
from generator.spec.models import Signal
from generator.targets import render_bundle

PART = "thundering_herd"

SPEC = """\
apiVersion: emergence-ops/v1
name: shop
services:
  - name: api
    depends_on: [pooled, counted, limited, cache-only, no-cache, opted-out]
  - name: pooled
    cache: {exporter: redis, match: {job: redis}}
    database: {exporter: postgres, match: {datname: pooled}}
  - name: counted
    cache: {exporter: memcached}
    signals: {db_connections: 'app_pool_connections{pool="counted"}'}
  - name: limited
    cache: {exporter: redis}
    database: {exporter: hikaricp-micrometer, max_connections: 50}
  - name: cache-only
    cache: {exporter: redis, match: {job: cache-only}}
  - name: no-cache
  - name: opted-out
    cache: {exporter: redis}
    disable: [thundering_herd]
"""

COUNTED = """\
apiVersion: emergence-ops/v1
name: counted
services:
  - name: api
    cache: {exporter: redis}
    signals: {db_connections: 'app_pool_connections{pool="api"}'}
"""


def _bundle(folder: Path, text: str, name: str) -> Bundle:
    path = folder / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return build_bundle(plan_system(load_spec(path)))


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return _bundle(tmp_path_factory.mktemp("spec"), SPEC, "shop")


def _rules(bundle: Bundle, service: str) -> dict[str, str]:
    """Return {record or alert name: expression} of one service's herd rules."""
    return {
        rule.record or rule.alert or "": rule.expr
        for group in bundle.rule_files[PART]
        for rule in group.rules
        if rule.labels["service"] == service
    }


def _alerted(bundle: Bundle) -> set[str]:
    return {
        rule.labels["service"]
        for group in bundle.rule_files[PART]
        for rule in group.rules
        if rule.alert is not None
    }


def test_services_with_cache_covered(shop: Bundle) -> None:
    assert _alerted(shop) == {"pooled", "counted", "limited", "cache-only"}


def test_missing_cache_warns(shop: Bundle) -> None:
    warnings = [w for w in shop.plan.warnings if f"pattern {PART}" in w]
    assert any(
        "'no-cache'" in w and "no source for cache_misses" in w for w in warnings
    )
    assert not any("'opted-out'" in w for w in warnings)


def test_ratio_reads_max_series(shop: Bundle) -> None:
    ratio = _rules(shop, "pooled")[shop.plan.names.db_connection_ratio]
    # The server-wide maximum carries no datname, so the database's match stays off it.
    assert "pg_settings_max_connections" in ratio
    assert "pg_settings_max_connections{datname" not in ratio
    assert "vector(" not in ratio


def test_spec_maximum_backs_max_series(shop: Bundle) -> None:
    ratio = _rules(shop, "limited")[shop.plan.names.db_connection_ratio]
    assert "hikaricp_connections_max" in ratio
    assert "or vector(50)" in ratio


def test_spec_maximum_alone(shop: Bundle) -> None:
    plan = shop.plan
    limited = plan.service("limited")
    selectors = {
        signal: selector
        for signal, selector in limited.selectors.items()
        if signal is not Signal.DB_CONNECTIONS_MAX
    }
    variant = replace(limited, selectors=selectors)
    context = service_context(plan, variant, system_context(plan))
    ratio = render("thundering_herd/connection_ratio.promql.j2", context)
    assert ratio == "sum(hikaricp_connections)\n/ vector(50)"


def test_count_without_maximum(shop: Bundle) -> None:
    names = shop.plan.names
    rules = _rules(shop, "counted")
    assert names.db_connection_ratio not in rules
    assert 'sum(app_pool_connections{pool="counted"})' == rules[names.db_connections]
    alert = rules["EmergenceThunderingHerdCritical"]
    assert "db_connection_count" in alert
    assert names.db_connection_ratio not in alert


def test_ratio_falls_back_to_count(shop: Bundle) -> None:
    alert = _rules(shop, "pooled")["EmergenceThunderingHerdWarning"]
    assert "unless on (system, service)" in alert
    assert 'level="warning"' in alert


def test_spike_alone_without_database(shop: Bundle) -> None:
    rules = _rules(shop, "cache-only")
    alert = rules["EmergenceThunderingHerdCritical"]
    assert "db_connections" not in alert
    assert shop.plan.names.db_connections not in rules


def test_spike_needs_baseline_history(shop: Bundle) -> None:
    spike = _rules(shop, "pooled")[shop.plan.names.cache_miss_spike]
    assert "offset 1h" in spike
    assert "> 0)" in spike


def test_memcached_hits_and_misses(shop: Bundle) -> None:
    ratio = _rules(shop, "counted")[shop.plan.names.cache_hit_ratio]
    assert 'status="hit"' in ratio
    assert 'status="miss"' in ratio


def test_held_herd_keeps_exact_spike(shop: Bundle) -> None:
    plan = shop.plan
    service = plan.service("pooled")
    spike = 10.2
    shape = herd.Herd(spike, 180.0, 100.0)
    inputs, end = herd._inputs(plan, service, shape)
    timeline = model.Timeline(plan.spec.evaluation_interval, len(inputs.misses))
    signals = herd.modelled(plan, service, inputs, timeline)
    for_steps = service.alerts[herd.PATTERN].for_seconds // timeline.step_seconds
    held = range(end - for_steps - herd.HELD_STEPS, end + 1)
    for index in held:
        assert signals[index].spike == pytest.approx(spike, rel=1e-9)


def test_scenarios_cover_every_exporter(shop: Bundle) -> None:
    names = [case.name for case in shop.tests[PART]]
    assert any("for pooled" in name for name in names)
    assert any("for counted" in name for name in names)
    assert any("for limited" in name for name in names)
    assert any("for cache-only" in name for name in names)


def test_count_scenarios_pass_promtool(tmp_path: Path) -> None:
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not on PATH")
    bundle = _bundle(tmp_path, COUNTED, "counted")
    names = [case.name for case in bundle.tests[PART]]
    assert any("connections high" in name for name in names)
    assert any("just below" in name for name in names)
    write_tree(render_bundle(bundle), tmp_path / "out")
    tests = tmp_path / "out" / "counted" / "prometheus" / "tests" / f"{PART}.test.yaml"
    assert "SUCCESS" in tools.test_rules([tests])
