"""signal_missing: one alert per configured signal, and the model of absent_over_time()."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.patterns.base import Rule
from generator.patterns.signal_missing import system_groups
from generator.plan import SystemPlan, plan_system
from generator.promql import parse_selector
from generator.rendering import system_context
from generator.scenarios.signal_missing import (
    Input,
    absent_condition,
    matches,
    presence_values,
    scenarios,
)
from generator.spec import load_spec

PART = "signal_missing"


def _plan(tmp_path: Path, text: str) -> SystemPlan:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return plan_system(load_spec(path))


def _alerts(plan: SystemPlan) -> list[Rule]:
    groups = system_groups(plan, system_context(plan))
    return [rule for group in groups for rule in group.rules]


SPEC = """\
apiVersion: emergence-ops/v1
name: shop
defaults:
  alerts: {signal_missing: {keep_firing_for: 10m}}
services:
  - name: api
    depends_on: [store]
  - name: store
    profile: custom
    signals:
      requests: 'store_requests_total{job="store"}'
      retries: 'store_retries_total{job="store", note="{{x}}"}'
  - name: quiet
    profile: custom
  - name: legacy
    disable: [signal_missing]
"""


def test_one_alert_per_signal(tmp_path: Path) -> None:
    plan = _plan(tmp_path, SPEC)
    alerts = _alerts(plan)
    store = [rule for rule in alerts if rule.labels["service"] == "store"]
    assert [rule.labels["signal"] for rule in store] == ["requests", "retries"]
    api = {rule.labels["signal"] for rule in alerts if rule.labels["service"] == "api"}
    assert api == {s.value for s in plan.service("api").selectors}


def test_alert_labels_and_expression(tmp_path: Path) -> None:
    plan = _plan(tmp_path, SPEC)
    rule = next(
        r
        for r in _alerts(plan)
        if r.labels["service"] == "store" and r.labels["signal"] == "requests"
    )
    assert rule.alert == "EmergenceSignalMissingWarning"
    assert rule.expr == 'count(absent_over_time(store_requests_total{job="store"}[5m]))'
    assert set(rule.labels) == {
        "system",
        "service",
        "team",
        "pattern",
        "severity",
        "signal",
    }
    assert rule.labels["pattern"] == PART
    assert rule.annotations["runbook_url"].endswith("/signal_missing#store")


def test_timing_from_spec(tmp_path: Path) -> None:
    rule = _alerts(_plan(tmp_path, SPEC))[0]
    assert rule.for_seconds == 0
    assert rule.keep_firing_for_seconds == 600


def test_disabled_and_signalless_services_left_out(tmp_path: Path) -> None:
    services = {rule.labels["service"] for rule in _alerts(_plan(tmp_path, SPEC))}
    assert "legacy" not in services
    assert "quiet" not in services


def test_braces_in_selector_escaped(tmp_path: Path) -> None:
    rule = next(
        r
        for r in _alerts(_plan(tmp_path, SPEC))
        if r.labels["service"] == "store" and r.labels["signal"] == "retries"
    )
    assert '{{ "{{" }}x}}' in rule.annotations["summary"]


def test_groups_hold_fifty_services(tmp_path: Path) -> None:
    names = "\n".join(f"  - name: s{i}" for i in range(60))
    plan = _plan(
        tmp_path, f"apiVersion: emergence-ops/v1\nname: big\nservices:\n{names}\n"
    )
    groups = system_groups(plan, system_context(plan))
    services = [{rule.labels["service"] for rule in group.rules} for group in groups]
    assert [len(members) for members in services] == [50, 10]


def test_tests_generated_for_every_case(tmp_path: Path) -> None:
    names = [case.name for case in scenarios(_plan(tmp_path, SPEC))]
    assert len(names) == 3
    assert names[0].startswith("every signal has a series")


def test_matches_like_prometheus() -> None:
    selector = parse_selector('up{job="a", instance=~"h.*", zone!="x", env!~"dev"}')
    assert matches(selector, {"__name__": "up", "job": "a", "instance": "h1"})
    assert not matches(selector, {"__name__": "up", "job": "a", "instance": "xh"})
    assert not matches(
        selector, {"__name__": "up", "job": "a", "instance": "h", "zone": "x"}
    )
    assert not matches(
        selector, {"__name__": "up", "job": "a", "instance": "h", "env": "dev"}
    )
    assert not matches(selector, {"__name__": "down", "job": "a", "instance": "h"})


@pytest.mark.parametrize(
    ("last_sample", "first_absent"),
    [(0, 21), (40, 61)],
)
def test_absent_one_window_after_last_sample(
    last_sample: int, first_absent: int
) -> None:
    steps = 80
    present = tuple(i <= last_sample for i in range(steps))
    selector = parse_selector('up{job="a"}')
    condition = absent_condition(
        selector, [Input({"__name__": "up", "job": "a"}, present)], 20, steps
    )
    assert condition.index(True) == first_absent
    assert all(condition[first_absent:])


def test_absent_without_matching_series() -> None:
    selector = parse_selector('up{job="a"}')
    other = Input({"__name__": "up", "job": "b"}, (True,) * 5)
    assert absent_condition(selector, [other], 20, 5) == [True] * 5


def test_presence_values_notation() -> None:
    present = (True,) * 3 + (False,) * 2 + (True,) * 2 + (False,)
    assert presence_values(present) == "0+1x2 _x2 5+1x1 _"
    assert presence_values((False, True)) == "_ 1"


def test_spec_maximum_is_not_watched(tmp_path: Path) -> None:
    from generator.patterns.signal_missing import watched
    from generator.plan import plan_system
    from generator.spec import load_spec
    from generator.spec.models import Signal

    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "apiVersion: emergence-ops/v1\nname: pool\nservices:\n"
        "  - name: api\n"
        "    database: {exporter: hikaricp-micrometer, match: {pool: p}, max_connections: 20}\n"
        "  - name: db\n"
        "    database: {exporter: hikaricp-micrometer, match: {pool: q}}\n"
    )
    plan = plan_system(load_spec(spec))

    assert Signal.DB_CONNECTIONS_MAX not in watched(plan.service("api"))
    assert Signal.DB_CONNECTIONS_MAX in watched(plan.service("db"))
    assert Signal.DB_CONNECTIONS in watched(plan.service("api"))
