"""Generated promtool tests of likelihood, risk score and health state.

The tests feed the series the risk rules read directly as input series: load, retry growth,
the short-window retry ratio, the maximum partial correlation, the other likelihood
indicators and ALERTS. They load only the threshold and risk rules, so no other rule records
over those inputs. Each risk case states its expected points by hand, and generation fails
unless a model of the rules agrees.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from generator import naming
from generator.durations import format_duration
from generator.naming import alert_name
from generator.patterns.base import TestCase
from generator.plan import ServicePlan, SystemPlan
from generator.promql import number, quote
from generator.risk import (
    ALERT_NAMES,
    EXCLUDED_ALERT_PATTERNS,
    INDICATORS,
    RISK,
    RISK_TERMS,
    Indicator,
)
from generator.scenarios import model
from generator.scenarios.cases import (
    TOLERANCE,
    ScenarioError,
    absent_check,
    case,
    no_nan_checks,
)
from generator.scenarios.series import series_text, values_text
from generator.spec.models import PatternId

CHECK_SECONDS = 60
"""Risk cases hold their inputs constant and are checked at this time."""
RAMP = (None, 0.0, 0.25, 0.5, 1.0, 1.5)
"""Indicator levels of the likelihood test, one per evaluation step: half the baseline,
then fractions of the way from baseline to critical."""


@dataclass(frozen=True)
class FiringAlert:
    """An ALERTS input series of one service."""

    pattern: str
    severity: str
    state: str = "firing"


@dataclass(frozen=True)
class Inputs:
    """The risk indicators of one service in a test, None where the series is absent."""

    load: float | None = None
    retry_growth: float | None = None
    retry_ratio_short: float | None = None
    max_partial: float | None = None
    alerts: tuple[FiringAlert, ...] = ()


@dataclass(frozen=True)
class RiskCase:
    """Inputs per service role ("a", "b") and the hand-computed risk of each and of the
    system."""

    name: str
    inputs: dict[str, Inputs]
    risk: dict[str, int]
    system_risk: int
    roles: tuple[str, ...] = field(default=("a",))


def scenarios(
    plan: SystemPlan, coverage: dict[PatternId, list[ServicePlan]]
) -> list[TestCase]:
    cases = []
    if coverage:
        cases.append(_likelihood_case(plan, coverage))
    covered = {
        service.name: frozenset(
            term
            for term, pattern in RISK_TERMS.items()
            if service in coverage.get(pattern, ())
        )
        for service in plan.services
    }
    # The roles go to the services with the most risk terms, in spec order among equals,
    # so that as many cases as possible apply.
    ranked = sorted(plan.services, key=lambda service: -len(covered[service.name]))
    roles = {"a": ranked[0]}
    if len(ranked) > 1:
        roles["b"] = ranked[1]
    for risk_case in risk_cases(roles):
        if not all(role in roles for role in risk_case.roles):
            continue
        # A case that feeds an indicator no rule records for its service would test a
        # term that the risk rule leaves out for that service.
        if all(
            _fed_terms(inputs) <= covered[roles[role].name]
            for role, inputs in risk_case.inputs.items()
        ):
            cases.append(_risk_case(plan, roles, risk_case))
    return cases


def _fed_terms(inputs: Inputs) -> set[str]:
    """Return the risk terms (RISK_TERMS keys) whose indicators the inputs feed."""
    terms = set()
    if inputs.load is not None:
        terms.add("load")
    if inputs.retry_growth is not None or inputs.retry_ratio_short is not None:
        terms.add("growth")
    if inputs.max_partial is not None:
        terms.add("sync")
    return terms


# Inputs that score given points for a service, from its own thresholds.


def load_at(service: ServicePlan, headroom: float) -> float:
    """Return the load that lies `headroom` below the service's transition level."""
    return service.threshold("load", "transition") - headroom


def growing(service: ServicePlan, above: bool = True, floor: bool = True) -> Inputs:
    warning = service.threshold("retry_growth", "warning")
    ratio_floor = service.threshold("retry_ratio", "floor")
    return Inputs(
        retry_growth=warning * (1.2 if above else 0.9),
        retry_ratio_short=ratio_floor * (2 if floor else 0.5),
    )


def synchronised(service: ServicePlan, above: bool = True) -> float:
    warning = service.threshold("synchronisation", "warning")
    return (warning + 1) / 2 if above else warning - 0.2


def merge(*parts: Inputs) -> Inputs:
    """Combine inputs that set different indicators."""
    values: dict[str, Any] = {"alerts": ()}
    for part in parts:
        for name in ("load", "retry_growth", "retry_ratio_short", "max_partial"):
            if getattr(part, name) is not None:
                values[name] = getattr(part, name)
        values["alerts"] += part.alerts
    return Inputs(**values)


FIRING = (FiringAlert(PatternId.RETRY_STORM.value, "warning"),)


def risk_cases(roles: dict[str, ServicePlan]) -> list[RiskCase]:
    """Return the risk cases with their hand-computed points."""
    a = roles["a"]
    b = roles.get("b", a)
    near, close, far = RISK.load_near_margin, RISK.load_close_margin, 0.2
    cases = [
        RiskCase("no indicators: risk 0", {}, {"a": 0}, 0),
        RiskCase(
            "healthy indicators, a pending and a signal_missing alert: risk 0",
            {
                "a": merge(
                    Inputs(load=load_at(a, far), max_partial=synchronised(a, False)),
                    growing(a, above=False),
                    Inputs(
                        alerts=(
                            FiringAlert(
                                PatternId.RETRY_STORM.value, "critical", "pending"
                            ),
                            FiringAlert(PatternId.SIGNAL_MISSING.value, "warning"),
                        )
                    ),
                )
            },
            {"a": 0},
            0,
        ),
        RiskCase(
            "retry growth above warning under the ratio floor: risk 0",
            {"a": growing(a, floor=False)},
            {"a": 0},
            0,
        ),
        RiskCase(
            f"load {close - 0.02:g} below transition: risk 20",
            {"a": Inputs(load=load_at(a, close - 0.02))},
            {"a": 20},
            20,
        ),
        RiskCase(
            f"load {near - 0.02:g} below transition: risk 40",
            {"a": Inputs(load=load_at(a, near - 0.02))},
            {"a": 40},
            40,
        ),
        RiskCase(
            "load past transition: risk 40",
            {"a": Inputs(load=load_at(a, -0.05))},
            {"a": 40},
            40,
        ),
        RiskCase("retry growth: risk 30", {"a": growing(a)}, {"a": 30}, 30),
        RiskCase("firing alert: risk 35", {"a": Inputs(alerts=FIRING)}, {"a": 35}, 35),
        RiskCase(
            "load, retry growth and a firing alert: risk 40+30+35 capped at 100",
            {
                "a": merge(
                    Inputs(load=load_at(a, near - 0.02), alerts=FIRING), growing(a)
                )
            },
            {"a": 100},
            100,
        ),
        RiskCase(
            "retry growth and synchronisation: risk 30+25",
            {"a": merge(growing(a), Inputs(max_partial=synchronised(a)))},
            {"a": 55},
            55,
        ),
        RiskCase(
            "firing alert and synchronisation: risk 35+25",
            {"a": Inputs(max_partial=synchronised(a), alerts=FIRING)},
            {"a": 60},
            60,
        ),
        RiskCase(
            "every rule: risk 40+30+25+35 capped at 100",
            {
                "a": merge(
                    Inputs(load=load_at(a, near - 0.02), max_partial=synchronised(a)),
                    growing(a),
                    Inputs(alerts=FIRING),
                )
            },
            {"a": 100},
            100,
        ),
        RiskCase(
            "rules split over two services: 40+35 and 30+25, system 100",
            {
                "a": Inputs(load=load_at(a, near - 0.02), alerts=FIRING),
                "b": merge(growing(b), Inputs(max_partial=synchronised(b))),
            },
            {"a": 75, "b": 55},
            100,
            roles=("a", "b"),
        ),
        RiskCase(
            "retry growth on two services: 30 each, system 30",
            {"a": growing(a), "b": growing(b)},
            {"a": 30, "b": 30},
            30,
            roles=("a", "b"),
        ),
    ]
    return cases


# A model of the risk rules, point by point.


def load_points(service: ServicePlan, load: float | None) -> int:
    if load is None:
        return 0
    headroom = service.threshold("load", "transition") - load
    if headroom < RISK.load_near_margin:
        return RISK.load_near
    if headroom < RISK.load_close_margin:
        return RISK.load_close
    return 0


def growth_points(service: ServicePlan, inputs: Inputs) -> int:
    if inputs.retry_growth is None or inputs.retry_ratio_short is None:
        return 0
    if inputs.retry_ratio_short <= service.threshold("retry_ratio", "floor"):
        return 0
    above = inputs.retry_growth > service.threshold("retry_growth", "warning")
    return RISK.retry_growth if above else 0


def sync_points(service: ServicePlan, max_partial: float | None) -> int:
    if max_partial is None:
        return 0
    above = max_partial > service.threshold("synchronisation", "warning")
    return RISK.synchronisation if above else 0


def alert_points(alerts: tuple[FiringAlert, ...]) -> int:
    counted = [
        alert
        for alert in alerts
        if alert.state == "firing" and alert.pattern not in EXCLUDED_ALERT_PATTERNS
    ]
    return RISK.alert if counted else 0


def points(service: ServicePlan, inputs: Inputs) -> tuple[int, int, int, int]:
    """Return the points of each risk rule, in the order load, growth, sync, alert."""
    return (
        load_points(service, inputs.load),
        growth_points(service, inputs),
        sync_points(service, inputs.max_partial),
        alert_points(inputs.alerts),
    )


def health(score: float, warning: float, critical: float) -> int:
    return int(score >= warning) + int(score >= critical)


def _risk_case(
    plan: SystemPlan,
    roles: dict[str, ServicePlan],
    risk_case: RiskCase,
) -> TestCase:
    """Build a test of the stated risk and health of each role's service and the system."""
    steps = CHECK_SECONDS // plan.spec.evaluation_interval + 1
    timeline = model.Timeline(plan.spec.evaluation_interval, steps)
    series: list[dict[str, Any]] = []
    per_service = {}
    for role, service in roles.items():
        inputs = risk_case.inputs.get(role, Inputs())
        series += _input_series(plan, service, inputs, steps)
        per_service[role] = points(service, inputs)

    checks = []
    for role, service in roles.items():
        checks += _service_checks(
            plan, service, risk_case, sum(per_service[role]), role
        )
    system_points = sum(
        max(column) for column in zip(*per_service.values(), strict=True)
    )
    checks += _system_checks(plan, risk_case, system_points)

    names = [plan.names.risk, plan.names.health, plan.names.likelihood]
    checks += no_nan_checks(plan, names, CHECK_SECONDS)
    if not risk_case.inputs:
        checks += [
            absent_check(plan, service, plan.names.likelihood, CHECK_SECONDS)
            for service in roles.values()
        ]
    return case(risk_case.name, series, [], checks, timeline)


def _service_checks(
    plan: SystemPlan,
    service: ServicePlan,
    risk_case: RiskCase,
    modelled_points: int,
    role: str,
) -> list[dict[str, Any]]:
    modelled = min(RISK.cap, modelled_points)
    expected = risk_case.risk.get(role, 0)
    if modelled != expected:
        raise ScenarioError(
            f"risk case {risk_case.name!r}: {service.name} models {modelled}, "
            f"not {expected}"
        )
    state = health(
        expected,
        service.threshold("risk", "warning"),
        service.threshold("risk", "critical"),
    )
    labels = {naming.SYSTEM: plan.name, naming.SERVICE: service.name}
    return [
        _exact(plan.names.risk, labels, expected, CHECK_SECONDS),
        _exact(plan.names.health, labels, state, CHECK_SECONDS),
    ]


def _system_checks(
    plan: SystemPlan, risk_case: RiskCase, modelled_points: int
) -> list[dict[str, Any]]:
    """Check the system's risk, the sum of each rule's highest points over its services."""
    modelled = min(RISK.cap, modelled_points)
    if modelled != risk_case.system_risk:
        raise ScenarioError(
            f"risk case {risk_case.name!r}: the system models {modelled}, "
            f"not {risk_case.system_risk}"
        )
    state = health(
        risk_case.system_risk,
        min(service.threshold("risk", "warning") for service in plan.services),
        min(service.threshold("risk", "critical") for service in plan.services),
    )
    labels = {naming.SYSTEM: plan.name}
    return [
        _exact(plan.names.system_risk, labels, risk_case.system_risk, CHECK_SECONDS),
        _exact(plan.names.system_health, labels, state, CHECK_SECONDS),
    ]


def _input_series(
    plan: SystemPlan, service: ServicePlan, inputs: Inputs, steps: int
) -> list[dict[str, Any]]:
    gauges = {
        plan.names.load: inputs.load,
        plan.names.retry_growth: inputs.retry_growth,
        plan.names.retry_ratio_short: inputs.retry_ratio_short,
        plan.names.max_partial: inputs.max_partial,
    }
    series = [
        _gauge(plan, service, name, [value] * steps)
        for name, value in gauges.items()
        if value is not None
    ]
    for alert in inputs.alerts:
        labels = {
            "__name__": "ALERTS",
            "alertname": alert_name(alert.pattern, alert.severity),
            "alertstate": alert.state,
            naming.SYSTEM: plan.name,
            naming.SERVICE: service.name,
            naming.TEAM: service.team,
            naming.PATTERN: alert.pattern,
            naming.SEVERITY: alert.severity,
        }
        if not re.fullmatch(ALERT_NAMES, labels["alertname"]):
            raise ScenarioError(f"{labels['alertname']} does not match {ALERT_NAMES}")
        series.append(
            {"series": series_text(labels), "values": values_text([1.0] * steps)}
        )
    return series


def _gauge(
    plan: SystemPlan, service: ServicePlan, series: str, values: list[float]
) -> dict[str, Any]:
    labels = {
        "__name__": series,
        naming.SYSTEM: plan.name,
        naming.SERVICE: service.name,
    }
    return {"series": series_text(labels), "values": values_text(values)}


def _exact(
    series: str, labels: dict[str, str], value: float, at_seconds: int
) -> dict[str, Any]:
    """Return a check that the series has exactly this sample: integers add exactly."""
    selector = (
        series
        + "{"
        + ", ".join(f"{k}={quote(v)}" for k, v in sorted(labels.items()))
        + "}"
    )
    return {
        "expr": selector,
        "eval_time": format_duration(at_seconds),
        "exp_samples": [{"labels": selector, "value": value}],
    }


# Likelihood: every covered pattern's indicator on a ramp through its levels.


def likelihood_score(x: float, baseline: float, critical: float) -> float | None:
    if critical - baseline <= 0:
        return None
    return 100 * min(1.0, max(0.0, (x - baseline) / (critical - baseline)))


def _level(service: ServicePlan, indicator: Indicator, fraction: float | None) -> float:
    baseline = service.threshold(indicator.signal, "baseline")
    critical = service.threshold(indicator.signal, "critical")
    if fraction is None:
        return baseline / 2
    return baseline + fraction * (critical - baseline)


def _likelihood_case(
    plan: SystemPlan, coverage: dict[PatternId, list[ServicePlan]]
) -> TestCase:
    """Drive each covered pattern's indicators of its first service through the ramp.

    retry_storm's growth stays a quarter of the way to critical while the ratio ramps.
    Then the ratio is at baseline and growth past critical, while the short-window retry
    ratio drops under its floor, so growth is ignored, and rises above it again.
    """
    steps = len(RAMP) + 2
    timeline = model.Timeline(plan.spec.evaluation_interval, steps)
    inputs: dict[tuple[str, str], list[float]] = {}
    expected: dict[PatternId, list[float | None]] = {}
    subjects = {pattern: services[0] for pattern, services in coverage.items()}
    for pattern, service in subjects.items():
        indicators = INDICATORS[pattern]
        levels = _indicator_levels(service, indicators)
        for indicator, values in zip(indicators, levels, strict=True):
            inputs[(service.name, indicator.series)] = values
        gate = next((i.gate for i in indicators if i.gate), None)
        gate_values = None
        if gate is not None:
            floor = service.threshold(gate[1], gate[2])
            gate_values = [floor * 2] * steps
            gate_values[len(RAMP)] = floor * 0.5
            inputs[(service.name, gate[0])] = gate_values
        expected[pattern] = [
            _modelled_likelihood(service, indicators, levels, gate_values, step)
            for step in range(steps)
        ]
    series = []
    for (name, attribute), values in inputs.items():
        service = plan.service(name)
        series.append(_gauge(plan, service, getattr(plan.names, attribute), values))
    checks = []
    for pattern, service in subjects.items():
        for step, value in enumerate(expected[pattern]):
            checks.append(
                _likelihood_check(plan, service, pattern, value, timeline.seconds(step))
            )
    checks += no_nan_checks(plan, [plan.names.likelihood], timeline.seconds(steps - 1))
    covered = ", ".join(f"{p.value} of {s.name}" for p, s in subjects.items())
    name = f"likelihood from baseline to past critical: {covered}"
    return case(name, series, [], checks, timeline)


def _indicator_levels(
    service: ServicePlan, indicators: tuple[Indicator, ...]
) -> list[list[float]]:
    """Return the input values of each indicator per step of the likelihood test."""
    if len(indicators) == 1:
        ramp = [*RAMP, RAMP[-1], RAMP[0]]
        return [[_level(service, indicators[0], f) for f in ramp]]
    first, second = indicators
    ratio = [*RAMP, 0.0, 0.0]
    growth = [0.25] * len(RAMP) + [1.5, 1.5]
    return [
        [_level(service, first, f) for f in ratio],
        [_level(service, second, f) for f in growth],
    ]


def _modelled_likelihood(
    service: ServicePlan,
    indicators: tuple[Indicator, ...],
    levels: list[list[float]],
    gate_values: list[float] | None,
    step: int,
) -> float | None:
    scores = []
    for indicator, values in zip(indicators, levels, strict=True):
        if indicator.gate is not None and gate_values is not None:
            floor = service.threshold(indicator.gate[1], indicator.gate[2])
            if not gate_values[step] > floor:
                continue
        score = likelihood_score(
            values[step],
            service.threshold(indicator.signal, "baseline"),
            service.threshold(indicator.signal, "critical"),
        )
        if score is not None:
            scores.append(score)
    return max(scores) if scores else None


def _likelihood_check(
    plan: SystemPlan,
    service: ServicePlan,
    pattern: PatternId,
    expected: float | None,
    at_seconds: int,
) -> dict[str, Any]:
    labels = {
        naming.PATTERN: pattern.value,
        naming.SERVICE: service.name,
        naming.SYSTEM: plan.name,
    }
    inner = ", ".join(f"{k}={quote(v)}" for k, v in sorted(labels.items()))
    selector = f"{plan.names.likelihood}{{{inner}}}"
    if expected is None:
        return {
            "expr": selector,
            "eval_time": format_duration(at_seconds),
            "exp_samples": [],
        }
    bound = TOLERANCE * max(1.0, abs(expected))
    return {
        "expr": f"abs({selector} - {number(expected)}) < bool {number(bound)}",
        "eval_time": format_duration(at_seconds),
        "exp_samples": [{"labels": "{" + inner + "}", "value": 1}],
    }
