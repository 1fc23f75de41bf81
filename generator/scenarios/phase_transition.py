"""Generated promtool tests of the phase transition: load and latency levels, both sides."""

from __future__ import annotations

from dataclasses import replace

from generator.patterns.base import TestCase
from generator.plan import ServicePlan, SystemPlan
from generator.rendering import has_cpu_load, has_load
from generator.scenarios import model
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
    latency_ratio_at,
    noisy_phases,
)
from generator.spec.models import PatternId, Signal

PATTERN = PatternId.PHASE_TRANSITION
SIGNALS = (Signal.REQUESTS, Signal.LATENCY, Signal.CPU_USAGE, Signal.CPU_LIMIT)
MARGIN = 0.02
HEALTHY_SHARE = 0.5  # healthy load as a share of the warning level
REQUESTS = 10.0


def records_latency_ratio(service: ServicePlan) -> bool:
    """Return whether pattern latency_ratio records the p99/p50 ratio for the service,
    which the critical alert and the phase state's CRITICAL level read."""
    return (
        service.has(Signal.LATENCY) and PatternId.LATENCY_RATIO not in service.disabled
    )


def critical_can_fire(service: ServicePlan) -> bool:
    """Return whether the critical alert can fire, which needs the latency ratio and,
    for its gate, the request rate that only a requests signal records."""
    return records_latency_ratio(service) and service.has(Signal.REQUESTS)


def _rps(service: ServicePlan) -> float | None:
    if (
        service.capacity
        and service.capacity.requests_per_second
        and service.has(Signal.REQUESTS)
    ):
        return service.capacity.requests_per_second
    return None


def _cpu_limit(service: ServicePlan, traffic_limit: float) -> float | None:
    if not has_cpu_load(service):
        return None
    if service.capacity and service.capacity.cpu_limit_cores:
        return service.capacity.cpu_limit_cores  # one pod in the tests
    return traffic_limit


def _phase(service: ServicePlan, seconds: int, load: float, ratio: float) -> Phase:
    """Traffic at `load` of capacity: through requests when the spec gives a request
    capacity, else through CPU."""
    rps = _rps(service)
    if rps is not None:
        return Phase(seconds, requests=load * rps, latency_ratio=ratio)
    limit = _cpu_limit(service, Traffic.cpu_limit)
    return Phase(
        seconds, requests=REQUESTS, latency_ratio=ratio, cpu_cores=load * limit
    )


def modelled_load(plan: SystemPlan, traffic: Traffic) -> list[float | None]:
    service = traffic.service
    window = plan.spec.windows.rate
    rps, limit = _rps(service), _cpu_limit(service, traffic.cpu_limit)
    loads = []
    for index in range(traffic.timeline.steps):
        shares = []
        if rps is not None:
            requests = traffic.rate("requests", index, window)
            if requests is not None:
                shares.append(requests / rps)
        if limit is not None:
            cpu = traffic.rate("cpu", index, window)
            if cpu is not None:
                shares.append(cpu / limit)
        loads.append(max(shares) if shares else None)
    return loads


def scenarios(plan: SystemPlan) -> list[TestCase]:
    # A service whose critical alert can fire tests both alerts. Without one, the
    # critical cases check that the alert stays silent.
    service = subject(
        plan, PATTERN, lambda s: has_load(s) and critical_can_fire(s)
    ) or subject(plan, PATTERN, has_load)
    if service is None:
        return []
    warning = service.threshold("load", "warning")
    critical = service.threshold("load", "critical")
    ratio = service.threshold("latency_ratio", "critical")
    healthy_ratio = max(
        1.2, min(2.0, service.threshold("latency_ratio", "warning") / 2)
    )
    up, down = 1 + MARGIN, 1 - MARGIN
    cases = [
        _case(
            plan, service, "warning", "above", warning * up, healthy_ratio, ramp=True
        ),
        _case(plan, service, "warning", "below", warning * down, healthy_ratio),
        _case(plan, service, "critical", "above", critical * up, ratio * up),
        _case(plan, service, "critical", "below", critical * down, ratio * up),
        _case(plan, service, "critical", "below", critical * up, ratio * down),
        _noisy(plan, service),
        _idle(plan, service),
    ]
    return cases


def _noisy(plan: SystemPlan, service: ServicePlan) -> TestCase:
    """Load wobbling every minute between a quarter and three quarters of the warning
    level: no phase alert may fire."""
    warning = service.threshold("load", "warning")
    healthy_ratio = max(
        1.2, min(2.0, service.threshold("latency_ratio", "warning") / 2)
    )
    phases = noisy_phases(
        13,
        40,
        lambda rng: _phase(
            service, 60, warning * rng.choice((0.25, 0.5, 0.75)), healthy_ratio
        ),
    )
    traffic = build_traffic(plan, service, phases)
    loads = modelled_load(plan, traffic)
    alerts = []
    for severity in ("warning", "critical"):
        level = service.threshold("load", severity)
        holds = [value is not None and value > level for value in loads]
        alerts += alert_checks(
            plan, service, PATTERN, severity, holds, traffic.timeline, False
        )
    name = f"noisy healthy load at {service.name} raises no phase alert"
    return case(name, input_series(traffic, SIGNALS), alerts, [], traffic.timeline)


def _case(
    plan: SystemPlan,
    service: ServicePlan,
    severity: str,
    side: str,
    load: float,
    ratio: float,
    ramp: bool = False,
) -> TestCase:
    timing = service.alerts[PATTERN]
    healthy_ratio = max(
        1.2, min(2.0, service.threshold("latency_ratio", "warning") / 2)
    )
    healthy_load = service.threshold("load", "warning") * HEALTHY_SHARE
    calm = _phase(service, 1200, healthy_load, healthy_ratio)
    hot = _phase(service, timing.for_seconds + 600, load, ratio)
    tail = _phase(
        service,
        plan.spec.windows.rate + timing.keep_firing_for_seconds + 300,
        healthy_load,
        healthy_ratio,
    )
    if calm.requests != hot.requests:
        # The latency histogram follows the requests, so with a request capacity both
        # phases keep the shape they were given at their own rate.
        tail = replace(tail, requests=calm.requests)
    traffic = build_traffic(plan, service, [calm, hot, tail])
    loads = modelled_load(plan, traffic)
    window = plan.spec.windows.rate
    gate = service.threshold("min_request_rate", "gate")
    holds = []
    for index, value in enumerate(loads):
        above_load = value is not None and value > service.threshold("load", severity)
        if severity == "warning":
            holds.append(above_load)
            continue
        latency = _recorded_latency_ratio(service, traffic, index, window)
        requests = traffic.rate("requests", index, window) or 0.0
        holds.append(
            above_load
            and latency is not None
            and latency > service.threshold("latency_ratio", "critical")
            and service.has(Signal.REQUESTS)
            and requests >= gate
        )
    fires = side == "above" and (severity == "warning" or critical_can_fire(service))
    alerts = alert_checks(
        plan,
        service,
        PATTERN,
        severity,
        holds,
        traffic.timeline,
        fires,
        loads,
    )
    stable = calm.seconds + hot.seconds
    checks = [
        value_check(
            plan, service, plan.names.load, loads[traffic.timeline.at(stable)], stable
        )
    ]
    at = traffic.timeline.at(stable)
    checks.append(
        value_check(
            plan,
            service,
            plan.names.phase_state,
            _state(
                service,
                loads[at],
                _recorded_latency_ratio(service, traffic, at, window),
            ),
            stable,
        )
    )
    if ramp:
        checks.append(
            _time_to_transition_check(plan, service, traffic, loads, calm.seconds + 150)
        )
    name = f"load {load:g} with latency ratio {ratio:g}: {severity} {side} for {service.name}"
    if side == "above" and not fires:
        name += ", silent because the alert cannot fire for it"
    return case(name, input_series(traffic, SIGNALS), alerts, checks, traffic.timeline)


def _recorded_latency_ratio(
    service: ServicePlan, traffic: Traffic, index: int, window: int
) -> float | None:
    """Return the modelled p99/p50 ratio at a step, None where no rule records it."""
    if not records_latency_ratio(service):
        return None
    return latency_ratio_at(traffic, index, window)


def _state(service: ServicePlan, load: float | None, latency: float | None) -> int:
    """Return the phase state: 1 when either signal passes its warning, 2 when both pass
    their critical levels; a missing latency ratio counts as below every level."""
    latency = latency if latency is not None else 0.0
    load = load if load is not None else 0.0
    warning = load > service.threshold(
        "load", "warning"
    ) or latency > service.threshold("latency_ratio", "warning")
    critical = load > service.threshold(
        "load", "critical"
    ) and latency > service.threshold("latency_ratio", "critical")
    return int(warning) + int(critical)


def _time_to_transition_check(
    plan: SystemPlan,
    service: ServicePlan,
    traffic: Traffic,
    loads: list[float | None],
    at: int,
) -> dict:
    """While the load rises, the recorded time left is (transition - load) / slope."""
    timeline = traffic.timeline
    index = timeline.at(at)
    trend_steps = plan.spec.windows.trend // timeline.step_seconds
    points = [
        (timeline.seconds(i), loads[i])
        for i in range(max(0, index - trend_steps), index + 1)
        if loads[i] is not None
    ]
    slope = model.least_squares_slope(points)
    transition = service.threshold("load", "transition")
    if (
        slope is None
        or slope <= 0
        or loads[index] is None
        or loads[index] >= transition
    ):
        raise ValueError(
            "the ramp scenario must have a rising load below the transition level"
        )
    return value_check(
        plan,
        service,
        plan.names.time_to_transition,
        (transition - loads[index]) / slope,
        at,
    )


def _idle(plan: SystemPlan, service: ServicePlan) -> TestCase:
    idle = replace(_phase(service, 1200, 0.0, 2.0), requests=0.0)
    traffic = build_traffic(plan, service, [idle])
    end = idle.seconds
    names = [
        plan.names.load,
        plan.names.load_slope,
        plan.names.time_to_transition,
        plan.names.phase_state,
    ]
    checks = no_nan_checks(plan, names, end)
    checks.append(absent_check(plan, service, plan.names.time_to_transition, end))
    alerts = silent_alert_checks(plan, service, PATTERN, traffic.timeline)
    name = f"idle {service.name} records no time to transition and raises nothing"
    return case(name, input_series(traffic, SIGNALS), alerts, checks, traffic.timeline)
