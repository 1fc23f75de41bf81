"""Generated promtool tests of the cascade: dependency alerts both sides of the level.

The tests feed the dependencies' ALERTS series directly, as Prometheus writes them for
firing alerts, and drive the service's own requests, errors and latency. Rates and ratios
are binary fractions, so a flat error or latency ratio is exactly constant and its slope
exactly 0, as Prometheus computes it.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from typing import Any

from generator import naming
from generator.durations import format_duration
from generator.patterns.base import TestCase
from generator.plan import ServicePlan, SystemPlan
from generator.promql import Selector
from generator.scenarios import model
from generator.scenarios.cases import (
    absent_check,
    alert_checks,
    case,
    no_nan_checks,
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
    noisy_phases,
)
from generator.spec.models import PatternId, Signal

PATTERN = PatternId.CASCADE
REQUESTS = 20.0  # per second, so the latency histogram's 98 % share is a whole number
CALM_ERRORS = 1.25  # per second: an error ratio of 1/16
HIGH_ERRORS = 5.0  # per second: an error ratio of 1/4
RISE_STEPS = 48  # the error rate climbs by (5 - 1.25) / 48 = 5/64 per second each step
HEALTHY_LATENCY = 2.0  # p99 / p50
HIGH_LATENCY = 4.0
EXCLUDED = (PatternId.CASCADE, PatternId.SIGNAL_MISSING)
FAILURES = (PatternId.LATENCY_RATIO, PatternId.RETRY_STORM, PatternId.PHASE_TRANSITION)


def has_enough_dependencies(service: ServicePlan) -> bool:
    """Return whether the service has as many direct dependencies as the cascade level."""
    level = service.threshold("cascade", "dependencies")
    return len(set(service.depends_on)) >= level


def _reads_latency(service: ServicePlan) -> bool:
    """Return whether the alert reads the latency ratio slope, which latency_ratio records."""
    return (
        service.has(Signal.LATENCY) and PatternId.LATENCY_RATIO not in service.disabled
    )


@dataclass(frozen=True)
class DependencyAlert:
    """One alert of a dependency, firing from the dependencies' start step to their end."""

    service: str
    pattern: PatternId
    severity: str


@dataclass(frozen=True)
class Story:
    """One test: which dependency alerts fire, and whether errors or latency rise."""

    name: str
    alerts: tuple[DependencyAlert, ...]
    errors_rise: bool
    latency_rise: bool
    expect_firing: bool


@dataclass(frozen=True)
class Timing:
    """Evaluation steps of one story: when the dependencies fail, the rise, the end."""

    alerts_start: int
    rise_start: int
    alerts_end: int
    steps: int


@dataclass(frozen=True)
class Signals:
    requests: float | None
    errors: float | None
    error_ratio: float | None
    error_slope: float | None
    latency_slope: float | None
    failing: int  # direct dependencies with a counted critical alert


def scenarios(plan: SystemPlan) -> list[TestCase]:
    service = subject(
        plan,
        PATTERN,
        lambda s: s.has(Signal.REQUESTS, Signal.ERRORS) and has_enough_dependencies(s),
    )
    if service is None:
        return []
    return [_case(plan, service, story) for story in stories(service)] + [
        _noisy(plan, service),
        _idle(plan, service),
    ]


def _critical(count: int) -> str:
    return f"{count} critical {'dependency' if count == 1 else 'dependencies'}"


def stories(service: ServicePlan) -> list[Story]:
    """Return the stories tested for the service, each named for what it shows."""
    needed = math.ceil(service.threshold("cascade", "dependencies"))
    dependencies = list(dict.fromkeys(service.depends_on))

    def critical(count: int) -> tuple[DependencyAlert, ...]:
        return tuple(
            DependencyAlert(dependencies[i], FAILURES[i % len(FAILURES)], "critical")
            for i in range(count)
        )

    enough, fewer = critical(needed), critical(needed - 1)
    warning = DependencyAlert(enough[-1].service, FAILURES[0], "warning")
    result = [
        Story(
            f"{_critical(needed)}, errors rising",
            enough,
            errors_rise=True,
            latency_rise=False,
            expect_firing=True,
        ),
        Story(
            f"{_critical(needed - 1)}, errors rising",
            fewer,
            errors_rise=True,
            latency_rise=False,
            expect_firing=False,
        ),
        Story(
            f"{_critical(needed - 1)} and one at warning, errors rising",
            fewer + (warning,),
            errors_rise=True,
            latency_rise=False,
            expect_firing=False,
        ),
        Story(
            f"{_critical(needed)}, errors and latency flat",
            enough,
            errors_rise=False,
            latency_rise=False,
            expect_firing=False,
        ),
    ]
    if needed >= 2:
        # The first dependency fires two critical alerts; it still counts once.
        twice = DependencyAlert(dependencies[0], FAILURES[1], "critical")
        result.append(
            Story(
                f"{_critical(needed - 1)}, one of them twice, errors rising",
                fewer + (twice,),
                errors_rise=True,
                latency_rise=False,
                expect_firing=False,
            )
        )
    excluded = tuple(
        DependencyAlert(enough[-1].service, pattern, "critical") for pattern in EXCLUDED
    )
    result.append(
        Story(
            f"{_critical(needed - 1)} and one with only cascade and signal_missing "
            "alerts, errors rising",
            fewer + excluded,
            errors_rise=True,
            latency_rise=False,
            expect_firing=False,
        )
    )
    if _reads_latency(service):
        result.append(
            Story(
                f"{_critical(needed)}, latency rising, errors flat",
                enough,
                errors_rise=False,
                latency_rise=True,
                expect_firing=True,
            )
        )
    return result


def _timing(plan: SystemPlan, service: ServicePlan) -> Timing:
    """Calm for the trend and rate windows, the dependencies fail, one rate window later
    the service's errors or latency rise, and the dependencies recover when the rise ends."""
    step = plan.spec.evaluation_interval
    windows = plan.spec.windows
    alerts_start = (windows.trend + windows.rate) // step
    rise_start = alerts_start + windows.rate // step
    alerts_end = rise_start + RISE_STEPS
    keep = service.alerts[PATTERN].keep_firing_for_seconds
    steps = alerts_end + (keep + 300) // step + 1
    return Timing(alerts_start, rise_start, alerts_end, steps)


def _error_increments(plan: SystemPlan, timing: Timing, rise: bool) -> list[float]:
    """Errors per step: calm, then climbing to the high rate over RISE_STEPS, then high."""
    step = plan.spec.evaluation_interval
    climb = (HIGH_ERRORS - CALM_ERRORS) / RISE_STEPS
    increments = []
    for index in range(1, timing.steps):
        rate = CALM_ERRORS
        if rise and index > timing.rise_start:
            rate = CALM_ERRORS + climb * min(index - timing.rise_start, RISE_STEPS)
        increments.append(rate * step)
    return increments


def _selects(selector: Selector, labels: dict[str, str]) -> bool:
    """Return whether the selector matches a series with these labels."""
    if labels.get("__name__") != selector.metric:
        return False
    for matcher in selector.matchers:
        value = labels.get(matcher.label, "")
        if matcher.op in ("=", "!="):
            equal = value == matcher.value
            matched = equal if matcher.op == "=" else not equal
        else:
            full = re.fullmatch(matcher.value, value) is not None
            matched = full if matcher.op == "=~" else not full
        if not matched:
            return False
    return True


def _request_series(
    service: ServicePlan, errors: list[float], steps: int, step: int
) -> tuple[list[dict[str, Any]], list[list[float]]]:
    """Return the request and error input series, and the counters the request selector
    sums. Where the error series also matches the request selector, as with Istio's one
    counter split by response code, the request series counts only the successes."""
    total = [REQUESTS * step] * (steps - 1)
    error_labels = example_labels(service.selectors[Signal.ERRORS])
    request_labels = example_labels(service.selectors[Signal.REQUESTS])
    error_counter = model.cumulative(errors)
    shared = _selects(service.selectors[Signal.REQUESTS], error_labels)
    if shared:
        successes = [t - e for t, e in zip(total, errors, strict=True)]
        request_counter = model.cumulative(successes)
        summed = [request_counter, error_counter]
    else:
        request_counter = model.cumulative(total)
        summed = [request_counter]
    series = [
        {"series": series_text(request_labels), "values": values_text(request_counter)},
        {"series": series_text(error_labels), "values": values_text(error_counter)},
    ]
    return series, summed


def _alert_series(
    plan: SystemPlan, alerts: tuple[DependencyAlert, ...], timing: Timing
) -> list[dict[str, Any]]:
    """Return ALERTS series present from the start step to the step before the end, with
    a stale marker at the end, as Prometheus writes them when an alert resolves."""
    present = timing.alerts_end - timing.alerts_start
    values = f"_x{timing.alerts_start} 1x{present - 1} stale"
    series = []
    for alert in alerts:
        labels = {
            "__name__": "ALERTS",
            "alertname": naming.alert_name(alert.pattern.value, alert.severity),
            "alertstate": "firing",
            naming.SYSTEM: plan.name,
            naming.SERVICE: alert.service,
            naming.TEAM: plan.service(alert.service).team,
            naming.PATTERN: alert.pattern.value,
            naming.SEVERITY: alert.severity,
        }
        series.append({"series": series_text(labels), "values": values})
    return series


def _failing(alerts: tuple[DependencyAlert, ...], timing: Timing, index: int) -> int:
    """Count the dependencies the alert rule counts at a step: each once, critical only."""
    if not timing.alerts_start <= index < timing.alerts_end:
        return 0
    return len(
        {
            a.service
            for a in alerts
            if a.severity == "critical" and a.pattern not in EXCLUDED
        }
    )


def _slope(points: list[tuple[float, float]]) -> float | None:
    """Return deriv() over the points; Prometheus returns exactly 0 for a constant series."""
    if len(points) >= 2 and all(value == points[0][1] for _, value in points):
        return 0.0
    return model.least_squares_slope(points)


def _window(
    values: list[float | None], index: int, steps: int, timeline: model.Timeline
) -> list[tuple[float, float]]:
    """Return the recorded (seconds, value) points in the trend window ending at `index`."""
    return [
        (float(timeline.seconds(i)), value)
        for i in range(max(0, index - steps), index + 1)
        if (value := values[i]) is not None
    ]


def modelled(
    plan: SystemPlan,
    summed: list[list[float]],
    errors: list[float],
    traffic: Traffic | None,
    alerts: tuple[DependencyAlert, ...],
    timing: Timing,
) -> list[Signals]:
    step = plan.spec.evaluation_interval
    timeline = model.Timeline(step, timing.steps)
    rate_steps = plan.spec.windows.rate // step
    trend_steps = plan.spec.windows.trend // step
    ratios: list[float | None] = []
    latencies: list[float | None] = []
    result = []
    for index in range(timing.steps):
        rates = [model.rate(c, index, rate_steps, step) for c in summed]
        requests = None if rates[0] is None else sum(r or 0.0 for r in rates)
        error_rate = model.rate(errors, index, rate_steps, step)
        ratio = None
        if requests and error_rate is not None:
            ratio = error_rate / requests
        ratios.append(ratio)
        latency = None
        if traffic is not None:
            latency = latency_ratio_at(traffic, index, plan.spec.windows.rate)
        latencies.append(latency)
        error_slope = _slope(_window(ratios, index, trend_steps, timeline))
        latency_slope = _slope(_window(latencies, index, trend_steps, timeline))
        failing = _failing(alerts, timing, index)
        result.append(
            Signals(requests, error_rate, ratio, error_slope, latency_slope, failing)
        )
    return result


def condition(service: ServicePlan, signals: Signals) -> bool:
    if signals.failing < service.threshold("cascade", "dependencies"):
        return False
    gate = service.threshold("min_request_rate", "gate")
    if signals.requests is None or signals.requests < gate:
        return False
    rising_errors = signals.error_slope is not None and signals.error_slope > 0
    rising_latency = signals.latency_slope is not None and signals.latency_slope > 0
    return rising_errors or rising_latency


def _latency(
    plan: SystemPlan, service: ServicePlan, timing: Timing, rise: bool, requests: float
) -> Traffic | None:
    """Return latency histogram traffic, healthy or rising to HIGH_LATENCY at the rise start."""
    if not _reads_latency(service):
        return None
    step = plan.spec.evaluation_interval
    before = timing.rise_start * step
    after = (timing.steps - 1) * step - before
    high = HIGH_LATENCY if rise else HEALTHY_LATENCY
    phases = [
        Phase(before, requests, latency_ratio=HEALTHY_LATENCY),
        Phase(after, requests, latency_ratio=high),
    ]
    return build_traffic(plan, service, phases)


def _case(plan: SystemPlan, service: ServicePlan, story: Story) -> TestCase:
    step = plan.spec.evaluation_interval
    timing = _timing(plan, service)
    timeline = model.Timeline(step, timing.steps)
    increments = _error_increments(plan, timing, story.errors_rise)
    series, summed = _request_series(service, increments, timing.steps, step)
    errors = model.cumulative(increments)
    traffic = _latency(plan, service, timing, story.latency_rise, REQUESTS)
    if traffic is not None:
        series += input_series(traffic, (Signal.LATENCY,))
    series += _alert_series(plan, story.alerts, timing)

    signals = modelled(plan, summed, errors, traffic, story.alerts, timing)
    conditions = [condition(service, s) for s in signals]
    values = [float(s.failing) for s in signals]
    alerts = alert_checks(
        plan,
        service,
        PATTERN,
        "critical",
        conditions,
        timeline,
        story.expect_firing,
        values,
    )
    if not story.expect_firing:
        # Also where the rising story fires, and where the dependencies recover.
        for_steps = service.alerts[PATTERN].for_seconds // step
        fire = timing.rise_start + 1 + for_steps
        alerts += _silent_checks(service, timeline, (fire, timing.alerts_end - 1))

    end = timing.alerts_end - 1
    checks = []
    for series_name, value in (
        (plan.names.errors, signals[end].errors),
        (plan.names.error_ratio, signals[end].error_ratio),
        (plan.names.error_ratio_slope, signals[end].error_slope),
    ):
        if value is not None:
            checks.append(
                value_check(plan, service, series_name, value, timeline.seconds(end))
            )
    name = f"{story.name}: {service.name}"
    return case(name, series, alerts, checks, timeline)


def _silent_checks(
    service: ServicePlan, timeline: model.Timeline, indices: tuple[int, ...]
) -> list[dict[str, Any]]:
    name = naming.alert_name(PATTERN.value, "critical")
    return [
        {
            "eval_time": format_duration(timeline.seconds(index)),
            "alertname": name,
            "exp_alerts": [],
        }
        for index in indices
    ]


def _noisy(plan: SystemPlan, service: ServicePlan) -> TestCase:
    """Build a test of errors and latency wobbling every minute while every dependency
    fires only warning alerts for a stretch. The error and latency slopes turn positive
    at times, but no dependency counts as failing, so the cascade alert stays silent."""
    step = plan.spec.evaluation_interval
    per_minute = 60 // step
    minutes = 40
    rng = random.Random(37)
    # Binary fractions of REQUESTS, so every error ratio is exact: 1/32, 1/16 and 1/8.
    increments = []
    for _ in range(minutes):
        rate = rng.choice((CALM_ERRORS / 2, CALM_ERRORS, CALM_ERRORS * 2))
        increments += [rate * step] * per_minute
    steps = len(increments) + 1
    timing = Timing(
        alerts_start=5 * per_minute,
        rise_start=5 * per_minute,
        alerts_end=steps - 5 * per_minute,
        steps=steps,
    )
    timeline = model.Timeline(step, steps)
    series, summed = _request_series(service, increments, steps, step)
    errors = model.cumulative(increments)
    traffic = None
    if _reads_latency(service):
        phases = noisy_phases(
            41,
            minutes,
            lambda r: Phase(
                60,
                REQUESTS,
                latency_ratio=r.choice((HEALTHY_LATENCY, HEALTHY_LATENCY * 1.25)),
            ),
        )
        traffic = build_traffic(plan, service, phases)
        series += input_series(traffic, (Signal.LATENCY,))
    warnings = tuple(
        DependencyAlert(dependency, FAILURES[i % len(FAILURES)], "warning")
        for i, dependency in enumerate(dict.fromkeys(service.depends_on))
    )
    series += _alert_series(plan, warnings, timing)

    signals = modelled(plan, summed, errors, traffic, warnings, timing)
    alerts = alert_checks(
        plan,
        service,
        PATTERN,
        "critical",
        [condition(service, s) for s in signals],
        timeline,
        False,
    )
    name = f"noisy errors with only warning dependencies: {service.name}"
    return case(name, series, alerts, [], timeline)


def _idle(plan: SystemPlan, service: ServicePlan) -> TestCase:
    """No requests while enough dependencies are critical: no ratio, no NaN, no alert."""
    step = plan.spec.evaluation_interval
    timing = _timing(plan, service)
    timeline = model.Timeline(step, timing.steps)
    zeros = model.cumulative([0.0] * (timing.steps - 1))
    request_labels = example_labels(service.selectors[Signal.REQUESTS])
    error_labels = example_labels(service.selectors[Signal.ERRORS])
    series = [
        {"series": series_text(labels), "values": values_text(zeros)}
        for labels in (request_labels, error_labels)
    ]
    traffic = _latency(plan, service, timing, False, 0.0)
    if traffic is not None:
        series += input_series(traffic, (Signal.LATENCY,))

    needed = math.ceil(service.threshold("cascade", "dependencies"))
    failing = tuple(
        DependencyAlert(dependency, FAILURES[0], "critical")
        for dependency in list(dict.fromkeys(service.depends_on))[:needed]
    )
    series += _alert_series(plan, failing, timing)

    end = timeline.seconds(timing.alerts_end - 1)
    names = [plan.names.errors, plan.names.error_ratio, plan.names.error_ratio_slope]
    checks = no_nan_checks(plan, names, end)
    checks.append(absent_check(plan, service, plan.names.error_ratio, end))
    checks.append(absent_check(plan, service, plan.names.error_ratio_slope, end))
    alerts = alert_checks(
        plan,
        service,
        PATTERN,
        "critical",
        [False] * timing.steps,
        timeline,
        False,
    )
    name = f"idle {service.name} with critical dependencies records no error ratio"
    return case(name, series, alerts, checks, timeline)
