"""Likelihood, risk score and health: which services record them and the modelled rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from generator import risk
from generator.patterns.base import Rule
from generator.plan import SystemPlan, plan_system
from generator.rendering import system_context
from generator.scenarios.risk import (
    Inputs,
    health,
    likelihood_score,
    load_at,
    load_points,
    points,
    risk_cases,
)
from generator.spec import load_spec
from generator.spec.models import PatternId

SPEC = """\
apiVersion: emergence-ops/v1
name: shop
defaults:
  thresholds: {risk: {warning: 40}}
services:
  - name: web
    depends_on: [api, cart]
    capacity: {requests_per_second: 100}
  - name: api
    disable: [phase_transition, retry_storm]
  - name: cart
  - name: store
    profile: custom
"""

GENERATED = {
    PatternId.LATENCY_RATIO.value,
    PatternId.PHASE_TRANSITION.value,
    PatternId.RETRY_STORM.value,
    PatternId.RETRY_AMPLIFICATION.value,
    PatternId.SYNCHRONISATION.value,
}
"""Rule file parts the bundle would have built before the risk part."""


def _plan(tmp_path: Path, text: str = SPEC) -> SystemPlan:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return plan_system(load_spec(path))


def _rules(plan: SystemPlan, generated: set[str] = GENERATED) -> list[Rule]:
    groups = risk.rule_groups(plan, system_context(plan), generated)
    return [rule for group in groups for rule in group.rules]


def _likelihoods(rules: list[Rule], service: str) -> set[str]:
    return {
        rule.labels["pattern"]
        for rule in rules
        if rule.record == "service:pattern_likelihood:percent"
        and rule.labels["service"] == service
    }


def test_likelihood_skips_disabled_patterns(tmp_path: Path) -> None:
    rules = _rules(_plan(tmp_path))
    api = _likelihoods(rules, "api")
    assert "phase_transition" not in api
    assert "retry_storm" not in api
    assert "latency_ratio" in api


def test_likelihood_skips_services_without_signals(tmp_path: Path) -> None:
    assert _likelihoods(_rules(_plan(tmp_path)), "store") == set()


def test_likelihood_skips_patterns_not_generated(tmp_path: Path) -> None:
    rules = _rules(_plan(tmp_path), generated={"latency_ratio"})
    assert _likelihoods(rules, "web") == {"latency_ratio"}


def test_synchronisation_likelihood_only_for_pairs(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    rules = _rules(plan)
    for service in plan.services:
        has = "synchronisation" in _likelihoods(rules, service.name)
        assert has == (service.name in plan.paired), service.name


def test_risk_and_health_for_every_service(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    rules = _rules(plan)
    for record in ("service:emergence_risk:score", "service:emergence_health:enum"):
        services = [rule.labels["service"] for rule in rules if rule.record == record]
        assert services == [service.name for service in plan.services]


def test_system_risk_group_last(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    groups = risk.rule_groups(plan, system_context(plan), GENERATED)
    assert groups[-1].name == "emergence.shop.risk_system"
    records = [rule.record for rule in groups[-1].rules]
    assert records == ["system:emergence_risk:score", "system:emergence_health:enum"]
    assert groups[-1].rules[0].labels == {"system": "shop"}


def test_risk_reads_only_recorded_indicators(tmp_path: Path) -> None:
    """A risk term whose indicator no rule records for the service is left out, so the
    rule names no series that does not exist."""
    plan = _plan(tmp_path)
    names = plan.names
    exprs = {
        rule.labels["service"]: rule.expr
        for rule in _rules(plan)
        if rule.record == "service:emergence_risk:score"
    }
    # api disables phase_transition and retry_storm, store has no request signals.
    assert names.load not in exprs["api"]
    assert names.retry_growth not in exprs["api"]
    assert names.load in exprs["web"]
    assert names.retry_growth in exprs["web"]
    for service in plan.services:
        has_sync = names.max_partial in exprs[service.name]
        assert has_sync == (service.name in plan.paired), service.name
    assert names.load not in exprs["store"]


def test_system_risk_reads_only_recorded_indicators(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    (system,) = [
        rule.expr
        for rule in _rules(plan, generated={"latency_ratio"})
        if rule.record == "system:emergence_risk:score"
    ]
    assert plan.names.load not in system
    assert plan.names.max_partial not in system
    assert "ALERTS{" in system


def test_risk_ignores_signal_missing_alerts(tmp_path: Path) -> None:
    expr = next(
        rule.expr
        for rule in _rules(_plan(tmp_path))
        if rule.record == "service:emergence_risk:score"
    )
    assert 'pattern!~"signal_missing"' in expr
    assert 'alertstate="firing"' in expr


@pytest.mark.parametrize(
    ("headroom", "expected"),
    [(0.2, 0), (0.11, 0), (0.09, 20), (0.06, 20), (0.04, 40), (-0.1, 40)],
)
def test_load_points_by_margin(tmp_path: Path, headroom: float, expected: int) -> None:
    web = _plan(tmp_path).service("web")
    assert load_points(web, load_at(web, headroom)) == expected


def test_missing_indicators_score_zero(tmp_path: Path) -> None:
    web = _plan(tmp_path).service("web")
    assert points(web, Inputs()) == (0, 0, 0, 0)


def test_health_uses_service_levels(tmp_path: Path) -> None:
    web = _plan(tmp_path).service("web")
    warning = web.threshold("risk", "warning")
    critical = web.threshold("risk", "critical")
    assert (warning, critical) == (40, 60)
    assert [health(score, warning, critical) for score in (39, 40, 59, 60)] == [
        0,
        1,
        1,
        2,
    ]


def test_risk_cases_cover_required_sums(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    roles = {"a": plan.services[0], "b": plan.services[1]}
    sums = {case.risk["a"] for case in risk_cases(roles) if case.roles == ("a",)}
    assert {0, 20, 40, 30, 55, 60, 100} <= sums


def test_risk_cases_agree_with_model(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    roles = {"a": plan.services[0], "b": plan.services[1]}
    for case in risk_cases(roles):
        for role, expected in case.risk.items():
            inputs = case.inputs.get(role, Inputs())
            modelled = min(100, sum(points(roles[role], inputs)))
            assert modelled == expected, case.name


@given(
    st.floats(-10, 10, allow_nan=False),
    st.floats(-10, 10, allow_nan=False),
)
def test_likelihood_monotone_and_bounded(x: float, y: float) -> None:
    low, high = sorted((x, y))
    a = likelihood_score(low, 1.0, 4.0)
    b = likelihood_score(high, 1.0, 4.0)
    assert a is not None and b is not None
    assert 0 <= a <= b <= 100


def test_likelihood_levels() -> None:
    assert likelihood_score(1.0, 1.0, 4.0) == 0
    assert likelihood_score(2.5, 1.0, 4.0) == 50
    assert likelihood_score(4.0, 1.0, 4.0) == 100
    assert likelihood_score(9.0, 1.0, 4.0) == 100
    assert likelihood_score(3.0, 2.0, 2.0) is None
