"""Generated promtool tests of the metastable failure: an overload that passes while retries
or the latency tail stay high, and the load histories that must stay silent."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from generator.patterns.base import TestCase
from generator.plan import ServicePlan, SystemPlan
from generator.rendering import has_load
from generator.scenarios.cases import (
    add_silent_checks,
    alert_checks,
    case,
    no_nan_checks,
    silent_alert_checks,
    subject,
)
from generator.scenarios.phase_transition import modelled_load
from generator.scenarios.traffic import (
    Phase,
    Traffic,
    build_traffic,
    input_series,
    latency_ratio_at,
    noisy_phases,
)
from generator.spec.models import PatternId, Signal

log = logging.getLogger(__name__)

PATTERN = PatternId.METASTABLE
SIGNALS = (
    Signal.REQUESTS,
    Signal.RETRIES,
    Signal.LATENCY,
    Signal.CPU_USAGE,
    Signal.CPU_LIMIT,
)
MARGIN = 0.02
REQUESTS = 20.0  # per second, where the load comes from CPU rather than requests


def has_retry_branch(service: ServicePlan) -> bool:
    """Return True when the retry ratio the alert reads is recorded for the service."""
    return (
        service.has(Signal.REQUESTS, Signal.RETRIES)
        and PatternId.RETRY_STORM not in service.disabled
    )


def has_latency_branch(service: ServicePlan) -> bool:
    """Return True when the latency ratio the alert reads is recorded for the service."""
    return (
        service.has(Signal.LATENCY) and PatternId.LATENCY_RATIO not in service.disabled
    )


def covers(service: ServicePlan) -> bool:
    return (
        has_load(service)
        and PatternId.PHASE_TRANSITION not in service.disabled
        and (has_retry_branch(service) or has_latency_branch(service))
    )


@dataclass(frozen=True)
class Degradation:
    """The retry ratio and p99/p50 latency ratio of one phase."""

    retry_ratio: float = 0.0
    latency_ratio: float = 2.0


@dataclass(frozen=True)
class Signals:
    load: float | None
    calm_max: float | None  # max_over_time of the load over the calm window
    lookback_max: float | None  # the same over the lookback window
    retry_ratio: float | None
    requests: float | None
    latency_ratio: float | None
    observed: float | None  # latency observations per second


@dataclass(frozen=True)
class Branch:
    """One way the service stays degraded: the phases around the level the alert reads."""

    signal: str
    level: float
    during: Degradation  # while the load is high
    stays: Degradation  # after the load fell, just above the level
    drops: Degradation  # after the load fell, just below the level


def scenarios(plan: SystemPlan) -> list[TestCase]:
    service = subject(plan, PATTERN, covers)
    if service is None:
        return []
    warning = service.threshold("load", "warning")
    critical = service.threshold("load", "critical")
    recovered, overload = warning * (1 - MARGIN), critical * (1 + MARGIN)
    feasible = _can_fire(plan, service)
    branches = _branches(service)
    cases = []
    for branch in branches:
        title = f"load falls to {recovered:g} after {overload:g}, {branch.signal}"
        if feasible:
            cases.append(
                _case(
                    plan,
                    service,
                    f"{title} stays above {branch.level:g}",
                    (overload, recovered),
                    (branch.during, branch.stays),
                    fires=True,
                )
            )
        cases.append(
            _case(
                plan,
                service,
                f"{title} drops below {branch.level:g}",
                (overload, recovered),
                (branch.during, branch.drops),
                fires=False,
            )
        )

    branch = branches[0]
    loads = (
        (critical * (1 - MARGIN), recovered, "load never passed its critical level"),
        (overload, warning * (1 + MARGIN), "load fell only to just above its warning"),
        (overload, overload, "load stays overloaded"),
    )
    for peak, after, description in loads:
        cases.append(
            _case(
                plan,
                service,
                f"{description}, {branch.signal} stays above {branch.level:g}",
                (peak, after),
                (branch.during, branch.stays),
                fires=False,
            )
        )

    if not feasible:
        message = (
            f"{plan.path}: {service.name}: the {PATTERN.value} tests cover only silent "
            "cases, because the alert's for time, windows.calm and windows.rate add up "
            "to windows.lookback or more, so an overload may leave the lookback window "
            "before the alert fires"
        )
        log.warning("%s", message)
        plan.warnings.append(message)
    cases.append(_noisy(plan, service))
    cases.append(_idle(plan, service))
    return cases


def _branches(service: ServicePlan) -> list[Branch]:
    healthy = _healthy(service)
    branches = []
    if has_retry_branch(service):
        level = service.threshold("retry_ratio", "warning")
        critical = service.threshold("retry_ratio", "critical")
        branches.append(
            Branch(
                "retry ratio",
                level,
                during=Degradation(critical, healthy.latency_ratio),
                stays=Degradation(level * (1 + MARGIN), healthy.latency_ratio),
                drops=Degradation(level * (1 - MARGIN), healthy.latency_ratio),
            )
        )
    if has_latency_branch(service):
        level = service.threshold("latency_ratio", "critical")
        # The overload's ratio is twice the later one, so each ratio gets its own
        # histogram bucket.
        branches.append(
            Branch(
                "latency ratio",
                level,
                during=Degradation(latency_ratio=2 * level * (1 + MARGIN)),
                stays=Degradation(latency_ratio=level * (1 + MARGIN)),
                drops=Degradation(latency_ratio=level * (1 - MARGIN)),
            )
        )
    return branches


def _healthy(service: ServicePlan) -> Degradation:
    ratio = max(1.2, min(2.0, service.threshold("latency_ratio", "warning") / 2))
    return Degradation(0.0, ratio)


def _healthy_load(service: ServicePlan) -> float:
    return min(0.3, service.threshold("load", "warning") / 2)


def _can_fire(plan: SystemPlan, service: ServicePlan) -> bool:
    """Return True when the firing scenarios fire for sure. The load needs up to one rate
    window to fall below its warning level, then the calm window and the `for` time pass,
    all before the overload leaves the lookback window."""
    windows = plan.spec.windows
    for_seconds = service.alerts[PATTERN].for_seconds
    return for_seconds + windows.calm + windows.rate < windows.lookback


def _request_capacity(service: ServicePlan) -> float | None:
    capacity = service.capacity
    if capacity and capacity.requests_per_second and service.has(Signal.REQUESTS):
        return capacity.requests_per_second
    return None


def _phase(
    service: ServicePlan, seconds: int, load: float, degradation: Degradation
) -> Phase:
    """Traffic at `load` of capacity: through requests when the spec gives a request
    capacity, else through CPU, as the load rule takes the larger share."""
    rps = _request_capacity(service)
    if rps is not None:
        requests, cpu = load * rps, 0.0
    else:
        capacity = service.capacity
        limit = (
            capacity.cpu_limit_cores
            if capacity and capacity.cpu_limit_cores
            else Traffic.cpu_limit
        )
        requests, cpu = REQUESTS, load * limit
    return Phase(
        seconds,
        requests=requests,
        retries=requests * degradation.retry_ratio,
        latency_ratio=degradation.latency_ratio,
        cpu_cores=cpu,
    )


def _window_max(values: list[float | None], index: int, steps: int) -> float | None:
    """Return max_over_time at `index` over a window of `steps` steps, both ends included
    as in Prometheus 2.42."""
    present = [v for v in values[max(0, index - steps) : index + 1] if v is not None]
    return max(present) if present else None


def modelled(plan: SystemPlan, traffic: Traffic) -> list[Signals]:
    windows = plan.spec.windows
    step = traffic.timeline.step_seconds
    loads = modelled_load(plan, traffic)
    result = []
    for index in range(traffic.timeline.steps):
        requests = traffic.rate("requests", index, windows.rate)
        retries = traffic.rate("retries", index, windows.rate)
        retry_ratio = retries / requests if requests and retries is not None else None
        result.append(
            Signals(
                load=loads[index],
                calm_max=_window_max(loads, index, windows.calm // step),
                lookback_max=_window_max(loads, index, windows.lookback // step),
                retry_ratio=retry_ratio,
                requests=requests,
                latency_ratio=latency_ratio_at(traffic, index, windows.rate),
                observed=traffic.rate(f"le={math.inf!r}", index, windows.rate),
            )
        )
    return result


def condition(service: ServicePlan, signals: Signals) -> bool:
    gate = service.threshold("min_request_rate", "gate")
    calm = (
        signals.load is not None
        and signals.calm_max is not None
        and signals.calm_max < service.threshold("load", "warning")
        and signals.lookback_max is not None
        and signals.lookback_max > service.threshold("load", "critical")
    )
    retrying = (
        has_retry_branch(service)
        and signals.retry_ratio is not None
        and signals.retry_ratio > service.threshold("retry_ratio", "warning")
        and signals.requests is not None
        and signals.requests >= gate
    )
    slow = (
        has_latency_branch(service)
        and signals.latency_ratio is not None
        and signals.latency_ratio > service.threshold("latency_ratio", "critical")
        and signals.observed is not None
        and signals.observed >= gate
    )
    return calm and (retrying or slow)


def _case(
    plan: SystemPlan,
    service: ServicePlan,
    title: str,
    loads: tuple[float, float],
    degradations: tuple[Degradation, Degradation],
    fires: bool,
) -> TestCase:
    """Build a test of healthy traffic, then the first load and degradation for a rate
    window and more, then the second ones for longer than the lookback window."""
    windows = plan.spec.windows
    timing = service.alerts[PATTERN]
    peak, after = loads
    during, stays = degradations
    # The condition can hold only while the overload lies within the lookback window,
    # and a firing alert resolves keep_firing_for later.
    recovery = windows.lookback + windows.rate + 120
    if fires:
        recovery += timing.keep_firing_for_seconds
    phases = [
        _phase(service, windows.rate, _healthy_load(service), _healthy(service)),
        _phase(service, windows.rate + 120, peak, during),
        _phase(service, recovery, after, stays),
    ]
    traffic = build_traffic(plan, service, phases)
    signals = modelled(plan, traffic)

    alerts = alert_checks(
        plan,
        service,
        PATTERN,
        "critical",
        [condition(service, s) for s in signals],
        traffic.timeline,
        fires,
        [s.load for s in signals],
    )
    if not fires:
        alerts = add_silent_checks(
            alerts,
            plan,
            service,
            PATTERN,
            "critical",
            traffic.timeline,
            phases[0].seconds,
            traffic.timeline.seconds(traffic.timeline.steps - 1),
        )
    name = f"{title}: {'fires' if fires else 'silent'} for {service.name}"
    return case(name, input_series(traffic, SIGNALS), alerts, [], traffic.timeline)


def _noisy(plan: SystemPlan, service: ServicePlan) -> TestCase:
    """Build a test longer than the lookback window whose load wobbles every minute
    between a quarter and three quarters of its warning level, never near critical, while
    the retry ratio and the latency ratio wobble under their warning levels."""
    warning = service.threshold("load", "warning")
    retry_warning = service.threshold("retry_ratio", "warning")
    healthy = _healthy(service).latency_ratio
    windows = plan.spec.windows
    minutes = (windows.lookback + windows.rate) // 60 + 10

    def draw(rng):
        degradation = Degradation(
            retry_warning * rng.choice((0.0, 0.25, 0.5, 0.75)),
            rng.choice((healthy, healthy * 1.3)),
        )
        return _phase(service, 60, warning * rng.choice((0.25, 0.5, 0.75)), degradation)

    traffic = build_traffic(plan, service, noisy_phases(43, minutes, draw))
    signals = modelled(plan, traffic)
    end = traffic.timeline.seconds(traffic.timeline.steps - 1)
    alerts = alert_checks(
        plan,
        service,
        PATTERN,
        "critical",
        [condition(service, s) for s in signals],
        traffic.timeline,
        False,
    )
    alerts = add_silent_checks(
        alerts, plan, service, PATTERN, "critical", traffic.timeline, 0, end
    )
    name = f"noisy healthy load and retries at {service.name} raise nothing"
    return case(name, input_series(traffic, SIGNALS), alerts, [], traffic.timeline)


def _idle(plan: SystemPlan, service: ServicePlan) -> TestCase:
    """Build a test whose series exist but count nothing: a load of 0, no NaN, no alert."""
    idle = Phase(1200, requests=0.0, latency_ratio=_healthy(service).latency_ratio)
    traffic = build_traffic(plan, service, [idle])
    names = [plan.names.load, plan.names.retry_ratio, plan.names.latency_ratio]
    checks = no_nan_checks(plan, names, idle.seconds)
    alerts = silent_alert_checks(
        plan, service, PATTERN, traffic.timeline, ("critical",)
    )
    name = f"idle {service.name} raises nothing"
    return case(name, input_series(traffic, SIGNALS), alerts, checks, traffic.timeline)
