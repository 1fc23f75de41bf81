"""Generated promtool tests of the latency ratio: both sides of each level, and idle."""

from __future__ import annotations

import math

from generator.patterns.base import TestCase
from generator.plan import ServicePlan, SystemPlan
from generator.scenarios.cases import (
    absent_check,
    alert_checks,
    case,
    no_nan_checks,
    silent_alert_checks,
    subject,
    value_check,
)
from generator.scenarios.traffic import (
    Phase,
    build_traffic,
    input_series,
    latency_ratio_at,
    noisy_phases,
)
from generator.spec.models import PatternId, Signal

PATTERN = PatternId.LATENCY_RATIO
SIGNALS = (Signal.LATENCY, Signal.REQUESTS)
MARGIN = 0.02  # "just above" and "just below" a level: 2 % either side


def healthy_ratio(service: ServicePlan) -> float:
    return max(1.2, min(2.0, service.threshold("latency_ratio", "warning") / 2))


def scenarios(plan: SystemPlan) -> list[TestCase]:
    service = subject(plan, PATTERN, lambda s: s.has(Signal.LATENCY))
    if service is None:
        return []
    cases = []
    for severity in ("warning", "critical"):
        level = service.threshold("latency_ratio", severity)
        for side, factor in (("above", 1 + MARGIN), ("below", 1 - MARGIN)):
            cases.append(_crossing(plan, service, severity, side, level * factor))
    cases.append(_noisy(plan, service))
    cases.append(_idle(plan, service))
    return cases


def _noisy(plan: SystemPlan, service: ServicePlan) -> TestCase:
    """Healthy traffic whose rate and tail wobble every minute: no alert may fire."""
    healthy = healthy_ratio(service)
    wobble = healthy * 1.3  # still well below the warning level
    phases = noisy_phases(
        7,
        40,
        lambda rng: Phase(
            60,
            requests=rng.choice((6.0, 10.0, 14.0)),
            latency_ratio=rng.choice((healthy, wobble)),
        ),
    )
    traffic = build_traffic(plan, service, phases)
    window = plan.spec.windows.rate
    alerts = []
    for severity in ("warning", "critical"):
        level = service.threshold("latency_ratio", severity)
        condition = []
        for index in range(traffic.timeline.steps):
            value = latency_ratio_at(traffic, index, window)
            condition.append(value is not None and value > level)
        alerts += alert_checks(
            plan, service, PATTERN, severity, condition, traffic.timeline, False
        )
    name = f"noisy healthy traffic at {service.name} raises no latency alert"
    return case(name, input_series(traffic, SIGNALS), alerts, [], traffic.timeline)


def _crossing(
    plan: SystemPlan, service: ServicePlan, severity: str, side: str, ratio: float
) -> TestCase:
    timing = service.alerts[PATTERN]
    window = plan.spec.windows.rate
    healthy = healthy_ratio(service)
    phases = [
        Phase(600, latency_ratio=healthy),
        Phase(timing.for_seconds + 600, latency_ratio=ratio),
        Phase(window + timing.keep_firing_for_seconds + 300, latency_ratio=healthy),
    ]
    traffic = build_traffic(plan, service, phases)
    level = service.threshold("latency_ratio", severity)
    gate = service.threshold("min_request_rate", "gate")
    condition, ratios = [], []
    for index in range(traffic.timeline.steps):
        value = latency_ratio_at(traffic, index, window)
        observed = traffic.rate(f"le={math.inf!r}", index, window) or 0.0
        ratios.append(value)
        condition.append(value is not None and value > level and observed >= gate)
    alerts = alert_checks(
        plan,
        service,
        PATTERN,
        severity,
        condition,
        traffic.timeline,
        side == "above",
        ratios,
    )
    stable = phases[0].seconds + phases[1].seconds
    values = [value_check(plan, service, plan.names.latency_ratio, ratio, stable)]
    name = f"latency ratio {side} the {severity} level {level:g} for {service.name}"
    return case(name, input_series(traffic, SIGNALS), alerts, values, traffic.timeline)


def _idle(plan: SystemPlan, service: ServicePlan) -> TestCase:
    """Series exist but count nothing: no ratio, no NaN, no alert."""
    phases = [Phase(1200, requests=0.0, latency_ratio=healthy_ratio(service))]
    traffic = build_traffic(plan, service, phases)
    end = phases[0].seconds
    names = [plan.names.latency_p50, plan.names.latency_p99, plan.names.latency_ratio]
    checks = no_nan_checks(plan, names, end)
    checks.append(absent_check(plan, service, plan.names.latency_ratio, end))
    alerts = silent_alert_checks(plan, service, PATTERN, traffic.timeline)
    name = f"idle {service.name} records no latency ratio and raises nothing"
    return case(name, input_series(traffic, SIGNALS), alerts, checks, traffic.timeline)
