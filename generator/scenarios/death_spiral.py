"""Generated promtool tests of the death spiral: GC share on each side of each level while
the latency ratio climbs, and GC pressure that must stay silent."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from generator.patterns.base import TestCase
from generator.plan import ServicePlan, SystemPlan
from generator.scenarios import model
from generator.scenarios.cases import (
    ScenarioError,
    absent_check,
    add_silent_checks,
    alert_checks,
    case,
    no_nan_checks,
    silent_alert_checks,
    subject,
    value_check,
)
from generator.scenarios.series import example_labels, series_text, values_text
from generator.scenarios.traffic import (
    Phase,
    Traffic,
    build_traffic,
    input_series,
    latency_ratio_at,
)
from generator.spec.models import PatternId, Signal

PATTERN = PatternId.DEATH_SPIRAL
SIGNALS = (Signal.LATENCY, Signal.REQUESTS)
SEVERITIES = ("warning", "critical")
MARGIN = 0.02
REQUESTS = 10.0
"""Requests per second. With a 15s step that is 150 observations a step, 147 of them in
the low bucket, so every histogram count is a whole number and a steady latency ratio is
recorded as the same float at every step."""
INSTANCES = ("10.0.0.1:9090", "10.0.0.2:9090")
OTHER_SHARE = 0.5
"""GC share of the second instance, as a fraction of the worst instance's share."""
RUNG_SECONDS = 60
"""The latency ratio steps up (or down) by 1 every rung of the ladder."""
SLOPE_RESOLUTION = 1e-9
"""Smallest |slope| per second trusted to have the same sign in Prometheus as here."""


@dataclass(frozen=True)
class Stage:
    """One phase of traffic and the GC share of the worst instance during it."""

    phase: Phase
    gc_share: float


@dataclass(frozen=True)
class Signals:
    gc_time: float | None
    ratio: float | None
    slope: float | None
    observed: float | None  # latency observations per second, the gate's rate


def covers(service: ServicePlan) -> bool:
    """Return True when the pattern's rules exist for the service: it needs GC time,
    latency, and the latency ratio recordings the alert reads."""
    return (
        service.has(Signal.GC_TIME, Signal.LATENCY)
        and PatternId.LATENCY_RATIO not in service.disabled
    )


def scenarios(plan: SystemPlan) -> list[TestCase]:
    service = subject(plan, PATTERN, covers)
    if service is None:
        return []
    cases = []
    for severity in SEVERITIES:
        level = service.threshold("gc_time", severity)
        for side, factor in (("above", 1 + MARGIN), ("below", 1 - MARGIN)):
            share = level * factor
            cases.append(
                _case(
                    plan,
                    service,
                    f"GC share {share:g} while the latency ratio climbs: "
                    f"{severity} {side} its level",
                    _stages(plan, service, share, "rising"),
                    {severity: side == "above"},
                )
            )
    high = service.threshold("gc_time", "critical") * (1 + MARGIN)
    silent = dict.fromkeys(SEVERITIES, False)
    for trend in ("flat", "falling"):
        cases.append(
            _case(
                plan,
                service,
                f"GC share {high:g} with a {trend} latency ratio stays silent",
                _stages(plan, service, high, trend),
                silent,
            )
        )
    gate = service.threshold("min_request_rate", "gate")
    if gate > 0:
        cases.append(
            _case(
                plan,
                service,
                f"GC share {high:g} and a climbing latency ratio below the request gate",
                _stages(plan, service, high, "rising", requests=gate / 2),
                silent,
            )
        )
    cases.append(_noisy(plan, service))
    cases.append(_idle(plan, service))
    return cases


def _requests(service: ServicePlan) -> float:
    """Return a request rate well above the gate, in whole tens so histogram counts
    stay whole."""
    gate = service.threshold("min_request_rate", "gate")
    return max(REQUESTS, 10.0 * math.ceil(2 * gate / 10))


def _healthy_ratio(service: ServicePlan) -> float:
    return max(1.2, min(2.0, service.threshold("latency_ratio", "warning") / 2))


def _healthy_gc(service: ServicePlan) -> float:
    return min(
        service.threshold("gc_time", "baseline"),
        service.threshold("gc_time", "warning") / 2,
    )


def _stages(
    plan: SystemPlan,
    service: ServicePlan,
    share: float,
    trend: str,
    requests: float | None = None,
) -> list[Stage]:
    """Calm, then GC at `share` while the latency ratio rises, stays or falls, then calm.

    The calm start lasts the rate and trend windows, so the latency ratio has been the
    same float for a whole trend window before the GC share rises, and deriv() of a
    constant series is exactly 0 in Prometheus 2.42.
    """
    windows = plan.spec.windows
    step = plan.spec.evaluation_interval
    timing = service.alerts[PATTERN]
    rung = step * max(1, RUNG_SECONDS // step)
    rungs = math.ceil((timing.for_seconds + 600) / rung)
    rate = _requests(service) if requests is None else requests
    healthy, healthy_gc = _healthy_ratio(service), _healthy_gc(service)
    top = healthy + rungs
    ladder = [healthy + k for k in range(1, rungs + 1)]
    if trend == "falling":
        ladder = ladder[::-1][1:] + [healthy]
    if trend == "flat":
        ladder = [top] * rungs
    before = healthy if trend == "rising" else top
    after = top if trend == "flat" else healthy
    calm = windows.rate + windows.trend
    tail = windows.rate + timing.keep_firing_for_seconds + 300
    return [
        Stage(Phase(calm, rate, latency_ratio=before), healthy_gc),
        *[Stage(Phase(rung, rate, latency_ratio=ratio), share) for ratio in ladder],
        Stage(Phase(tail, rate, latency_ratio=after), healthy_gc),
    ]


def _gc_counters(
    plan: SystemPlan, stages: list[Stage]
) -> tuple[list[float], list[float]]:
    """Return the GC time counters of the worst and the second instance."""
    step = plan.spec.evaluation_interval
    worst: list[float] = []
    other: list[float] = []
    for stage in stages:
        for _ in range(stage.phase.seconds // step):
            worst.append(stage.gc_share * step)
            other.append(stage.gc_share * OTHER_SHARE * step)
    return model.cumulative(worst), model.cumulative(other)


def _gc_series(
    service: ServicePlan, worst: list[float], other: list[float]
) -> list[dict[str, Any]]:
    """Return one GC time counter per instance, both matching the service's selector."""
    selector = service.selectors[Signal.GC_TIME]
    labels = example_labels(selector)
    if any(matcher.label == "instance" for matcher in selector.matchers):
        # The selector fixes the instance, so only the worst one can be built.
        return [{"series": series_text(labels), "values": values_text(worst)}]
    return [
        {
            "series": series_text({**labels, "instance": instance}),
            "values": values_text(values),
        }
        for instance, values in zip(INSTANCES, (worst, other), strict=True)
    ]


def _slope(points: list[tuple[float, float]]) -> float | None:
    """Return deriv() over the points; Prometheus returns exactly 0 for a constant series."""
    if len(points) >= 2 and all(value == points[0][1] for _, value in points):
        return 0.0
    return model.least_squares_slope(points)


def modelled(
    plan: SystemPlan, traffic: Traffic, worst: list[float], other: list[float]
) -> list[Signals]:
    windows = plan.spec.windows
    timeline = traffic.timeline
    window_steps = windows.rate // timeline.step_seconds
    trend_steps = windows.trend // timeline.step_seconds
    ratios: list[float | None] = []
    result = []
    for index in range(timeline.steps):
        rates = [
            model.rate(counter, index, window_steps, timeline.step_seconds)
            for counter in (worst, other)
        ]
        gc_time = max(rates) if rates[0] is not None else None
        ratios.append(latency_ratio_at(traffic, index, windows.rate))
        points = [
            (float(timeline.seconds(i)), ratio)
            for i in range(max(0, index - trend_steps), index + 1)
            if (ratio := ratios[i]) is not None
        ]
        observed = traffic.rate(f"le={math.inf!r}", index, windows.rate)
        result.append(Signals(gc_time, ratios[-1], _slope(points), observed))
    return result


def condition(service: ServicePlan, severity: str, signals: Signals) -> bool:
    gate = service.threshold("min_request_rate", "gate")
    level = service.threshold("gc_time", severity)
    pressed = (
        signals.gc_time is not None
        and signals.gc_time > level
        and signals.observed is not None
        and signals.observed >= gate
    )
    if not pressed or signals.slope is None:
        return False
    if 0 < abs(signals.slope) < SLOPE_RESOLUTION:
        raise ScenarioError(
            f"{PATTERN.value} scenario for {service.name}: latency ratio slope "
            f"{signals.slope:g} is too close to 0 to predict its sign in Prometheus"
        )
    return signals.slope > 0


def _case(
    plan: SystemPlan,
    service: ServicePlan,
    title: str,
    stages: list[Stage],
    expect: dict[str, bool],
) -> TestCase:
    traffic = build_traffic(plan, service, [stage.phase for stage in stages])
    worst, other = _gc_counters(plan, stages)
    signals = modelled(plan, traffic, worst, other)

    end = sum(stage.phase.seconds for stage in stages[:-1])
    alerts = []
    for severity, fires in expect.items():
        holds = [condition(service, severity, s) for s in signals]
        checks = alert_checks(
            plan,
            service,
            PATTERN,
            severity,
            holds,
            traffic.timeline,
            fires,
            [s.gc_time for s in signals],
        )
        if not fires:
            checks = add_silent_checks(
                checks,
                plan,
                service,
                PATTERN,
                severity,
                traffic.timeline,
                stages[0].phase.seconds,
                traffic.timeline.seconds(traffic.timeline.steps - 1),
            )
        alerts += checks

    last = signals[traffic.timeline.at(end)]
    checks = []
    if last.gc_time is not None:
        checks.append(value_check(plan, service, plan.names.gc_time, last.gc_time, end))
    if last.slope is not None:
        checks.append(
            value_check(plan, service, plan.names.latency_ratio_slope, last.slope, end)
        )
    series = input_series(traffic, SIGNALS) + _gc_series(service, worst, other)
    return case(f"{title} for {service.name}", series, alerts, checks, traffic.timeline)


def _noisy(plan: SystemPlan, service: ServicePlan) -> TestCase:
    """Build a test of healthy traffic that changes every minute: the request rate, the
    latency ratio and a GC share between a quarter and three quarters of the warning
    level. The latency ratio climbs at times, but the GC share never passes a level."""
    rng = random.Random(29)
    rate = _requests(service)
    healthy = _healthy_ratio(service)
    warning = service.threshold("gc_time", "warning")
    stages = [
        Stage(
            Phase(
                60,
                rate * rng.choice((1.0, 2.0, 3.0)),
                latency_ratio=rng.choice((healthy, healthy * 1.3)),
            ),
            warning * rng.choice((0.25, 0.5, 0.75)),
        )
        for _ in range(40)
    ]
    traffic = build_traffic(plan, service, [stage.phase for stage in stages])
    worst, other = _gc_counters(plan, stages)
    signals = modelled(plan, traffic, worst, other)
    end = traffic.timeline.seconds(traffic.timeline.steps - 1)
    alerts = []
    for severity in SEVERITIES:
        conditions = [condition(service, severity, s) for s in signals]
        checks = alert_checks(
            plan, service, PATTERN, severity, conditions, traffic.timeline, False
        )
        alerts += add_silent_checks(
            checks, plan, service, PATTERN, severity, traffic.timeline, 0, end
        )
    series = input_series(traffic, SIGNALS) + _gc_series(service, worst, other)
    name = f"noisy healthy GC and latency at {service.name} raise no death spiral alert"
    return case(name, series, alerts, [], traffic.timeline)


def _idle(plan: SystemPlan, service: ServicePlan) -> TestCase:
    """Build a test whose GC and latency series count nothing: GC share 0, no NaN, no
    alert."""
    seconds = 1200
    stages = [Stage(Phase(seconds, requests=0.0), 0.0)]
    traffic = build_traffic(plan, service, [stage.phase for stage in stages])
    worst, other = _gc_counters(plan, stages)
    checks = no_nan_checks(plan, [plan.names.gc_time], seconds)
    checks.append(value_check(plan, service, plan.names.gc_time, 0.0, seconds))
    checks.append(absent_check(plan, service, plan.names.latency_ratio_slope, seconds))
    alerts = silent_alert_checks(plan, service, PATTERN, traffic.timeline, SEVERITIES)
    series = input_series(traffic, SIGNALS) + _gc_series(service, worst, other)
    name = f"idle {service.name} records a GC share of 0 and raises nothing"
    return case(name, series, alerts, checks, traffic.timeline)
