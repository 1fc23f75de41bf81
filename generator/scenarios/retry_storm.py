"""Generated promtool tests of the retry storm: each level and growth rule, both sides."""

from __future__ import annotations

from dataclasses import dataclass

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
    Traffic,
    build_traffic,
    input_series,
    noisy_phases,
)
from generator.spec.models import PatternId, Signal

PATTERN = PatternId.RETRY_STORM
SIGNALS = (Signal.REQUESTS, Signal.RETRIES)
MARGIN = 0.02
REQUESTS = 20.0  # per second, well above the default 1/s gate


@dataclass(frozen=True)
class Signals:
    ratio: float | None
    short: float | None
    growth: float | None
    requests: float | None


def modelled(plan: SystemPlan, traffic: Traffic) -> list[Signals]:
    windows = plan.spec.windows
    short_steps = windows.short // traffic.timeline.step_seconds
    shorts: list[float | None] = []
    result = []
    for index in range(traffic.timeline.steps):
        requests = traffic.rate("requests", index, windows.rate)
        retries = traffic.rate("retries", index, windows.rate)
        ratio = retries / requests if requests and retries is not None else None
        short_requests = traffic.rate("requests", index, windows.short)
        short_retries = traffic.rate("retries", index, windows.short)
        short = (
            short_retries / short_requests
            if short_requests and short_retries is not None
            else None
        )
        shorts.append(short)
        earlier = shorts[index - short_steps] if index >= short_steps else None
        growth = short / earlier if short is not None and earlier else None
        result.append(Signals(ratio, short, growth, requests))
    return result


def condition(service: ServicePlan, severity: str, signals: Signals) -> bool:
    gate = service.threshold("min_request_rate", "gate")
    if signals.requests is None or signals.requests < gate:
        return False
    level = signals.ratio is not None and signals.ratio > service.threshold(
        "retry_ratio", severity
    )
    floor = service.threshold("retry_ratio", "floor")
    growing = (
        signals.short is not None
        and signals.short > floor
        and signals.growth is not None
        and signals.growth > service.threshold("retry_growth", severity)
    )
    return level or growing


def alert_value(signals: Signals, service: ServicePlan, severity: str) -> float | None:
    """Return the alert's value: the level branch's ratio when that branch is true,
    else the short-window ratio."""
    if signals.ratio is not None and signals.ratio > service.threshold(
        "retry_ratio", severity
    ):
        return signals.ratio
    return signals.short


def scenarios(plan: SystemPlan) -> list[TestCase]:
    service = subject(plan, PATTERN, lambda s: s.has(*SIGNALS))
    if service is None:
        return []
    cases = []
    for severity in ("warning", "critical"):
        level = service.threshold("retry_ratio", severity)
        for side, factor in (("above", 1 + MARGIN), ("below", 1 - MARGIN)):
            ratio = level * factor
            phase = Phase(
                service.alerts[PATTERN].for_seconds + 600, REQUESTS, REQUESTS * ratio
            )
            cases.append(
                _case(plan, service, severity, side, f"retry ratio {ratio:g}", phase)
            )
        growth = service.threshold("retry_growth", severity)
        baseline = service.threshold("retry_ratio", "floor") * 0.9
        for side, factor in (("above", 1 + MARGIN), ("below", 1 - MARGIN)):
            per_minute = growth * factor
            phase = Phase(
                _growth_seconds(plan, service),
                REQUESTS,
                REQUESTS * baseline,
                retry_growth=per_minute,
            )
            name = f"retry ratio growing {per_minute:g} times a minute"
            cases.append(_case(plan, service, severity, side, name, phase, baseline))
    floor = service.threshold("retry_ratio", "floor")
    growth = service.threshold("retry_growth", "critical") * 1.5
    seconds = _growth_seconds(plan, service)
    baseline = floor / growth ** (seconds / 60 + 1)
    below_floor = Phase(seconds, REQUESTS, REQUESTS * baseline, retry_growth=growth)
    name = "fast growth under the floor"
    cases.append(_case(plan, service, "critical", "below", name, below_floor, baseline))
    cases.append(_noisy(plan, service))
    cases.append(_idle(plan, service))
    return cases


def _noisy(plan: SystemPlan, service: ServicePlan) -> TestCase:
    """Healthy traffic with a few retries under the floor, changing every minute: the
    retry ratio may triple from one minute to the next, yet no alert may fire."""
    floor = service.threshold("retry_ratio", "floor")

    def draw(rng):
        requests = rng.choice((15.0, 20.0, 25.0))
        return Phase(60, requests, requests * floor * rng.choice((0.3, 0.6, 0.9)))

    traffic = build_traffic(plan, service, noisy_phases(11, 40, draw))
    signals = modelled(plan, traffic)
    alerts = []
    for severity in ("warning", "critical"):
        holds = [condition(service, severity, s) for s in signals]
        alerts += alert_checks(
            plan, service, PATTERN, severity, holds, traffic.timeline, False
        )
    name = f"noisy healthy retries under the floor at {service.name} raise nothing"
    return case(name, input_series(traffic, SIGNALS), alerts, [], traffic.timeline)


def _growth_seconds(plan: SystemPlan, service: ServicePlan) -> int:
    """Growth long enough for two full short windows inside it, then the `for` time."""
    step = plan.spec.evaluation_interval
    return 2 * plan.spec.windows.short + service.alerts[PATTERN].for_seconds + 2 * step


def _case(
    plan: SystemPlan,
    service: ServicePlan,
    severity: str,
    side: str,
    what: str,
    phase: Phase,
    baseline: float = 0.0,
) -> TestCase:
    """Calm traffic at a constant retry ratio, the phase under test, then calm again.

    Growth phases start from the calm baseline, so the growth the rules see rises
    smoothly from 1 to the phase's factor instead of jumping from zero retries.
    """
    timing = service.alerts[PATTERN]
    calm = Phase(600, REQUESTS, REQUESTS * baseline)
    tail = Phase(
        plan.spec.windows.rate + timing.keep_firing_for_seconds + 300,
        REQUESTS,
        REQUESTS * baseline,
    )
    phases = [calm, phase, tail]
    traffic = build_traffic(plan, service, phases)
    signals = modelled(plan, traffic)
    holds = [condition(service, severity, s) for s in signals]
    values = [alert_value(s, service, severity) for s in signals]
    alerts = alert_checks(
        plan,
        service,
        PATTERN,
        severity,
        holds,
        traffic.timeline,
        side == "above",
        values,
    )
    end = calm.seconds + phase.seconds
    checks = []
    last = signals[traffic.timeline.at(end)]
    if last.ratio is not None:
        checks.append(
            value_check(plan, service, plan.names.retry_ratio, last.ratio, end)
        )
    if last.growth is not None:
        checks.append(
            value_check(plan, service, plan.names.retry_growth, last.growth, end)
        )
    name = f"{what}: {severity} {side} its level for {service.name}"
    return case(name, input_series(traffic, SIGNALS), alerts, checks, traffic.timeline)


def _idle(plan: SystemPlan, service: ServicePlan) -> TestCase:
    traffic = build_traffic(plan, service, [Phase(1200, requests=0.0)])
    end = 1200
    names = [
        plan.names.retry_ratio,
        plan.names.retry_ratio_short,
        plan.names.retry_growth,
    ]
    checks = no_nan_checks(plan, names, end)
    checks += [absent_check(plan, service, name, end) for name in names]
    alerts = silent_alert_checks(plan, service, PATTERN, traffic.timeline)
    name = f"idle {service.name} records no retry ratio and raises nothing"
    return case(name, input_series(traffic, SIGNALS), alerts, checks, traffic.timeline)
