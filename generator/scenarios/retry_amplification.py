"""Generated promtool tests of retry amplification along a call path, both sides."""

from __future__ import annotations

import math

from generator.patterns.base import TestCase
from generator.plan import ServicePlan, SystemPlan
from generator.scenarios.cases import (
    alert_checks,
    case,
    no_nan_checks,
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

PATTERN = PatternId.RETRY_AMPLIFICATION
SIGNALS = (Signal.REQUESTS, Signal.RETRIES)
MARGIN = 0.02
REQUESTS = 20.0


def _has_signals(service: ServicePlan) -> bool:
    return service.has(*SIGNALS)


def _phase(seconds: int, hop: float) -> Phase:
    """Traffic whose attempts per logical call are `hop`: retries = R (1 - 1 / hop)."""
    return Phase(seconds, REQUESTS, REQUESTS * (1 - 1 / hop))


def _hop(plan: SystemPlan, traffic: Traffic, index: int) -> float | None:
    window = plan.spec.windows.rate
    requests = traffic.rate("requests", index, window)
    retries = traffic.rate("retries", index, window)
    if requests is None or retries is None or requests - retries <= 0:
        return None
    return requests / (requests - retries)


def scenarios(plan: SystemPlan) -> list[TestCase]:
    with_callers = subject(
        plan,
        PATTERN,
        lambda s: (
            _has_signals(s)
            and any(
                _has_signals(plan.service(c))
                and PATTERN not in plan.service(c).disabled
                for c in s.path_callers
            )
        ),
    )
    service = with_callers or subject(plan, PATTERN, _has_signals)
    if service is None:
        return []
    caller = None
    if with_callers is not None:
        caller = next(
            plan.service(c)
            for c in service.path_callers
            if _has_signals(plan.service(c))
        )
    level = service.threshold("retry_amplification", "critical")
    cases = []
    for side, factor in (("above", 1 + MARGIN), ("below", 1 - MARGIN)):
        if level * factor < 1:
            continue  # every call makes at least one attempt, so no path product is below 1
        cases.append(_case(plan, service, caller, side, level * factor))
    cases.append(_noisy(plan, service, caller))
    return cases


def _paths(
    plan: SystemPlan, traffic: Traffic, caller_traffic: Traffic | None
) -> list[float | None]:
    """Return the modelled path amplification per step: the own hop times the caller's,
    where a caller without a value counts as 1."""
    paths: list[float | None] = []
    for index in range(traffic.timeline.steps):
        hop = _hop(plan, traffic, index)
        upstream = None
        if caller_traffic is not None:
            upstream = _hop(plan, caller_traffic, index)
        if hop is None:
            paths.append(None)
        elif upstream is None:
            paths.append(hop)
        else:
            paths.append(hop * upstream)
    return paths


def _critical_conditions(
    plan: SystemPlan, service: ServicePlan, traffic: Traffic, paths: list[float | None]
) -> list[bool]:
    """Return, per step, whether the critical condition holds: the path amplification
    above its level at a request rate at or above the gate."""
    gate = service.threshold("min_request_rate", "gate")
    level = service.threshold("retry_amplification", "critical")
    conditions = []
    for index, path in enumerate(paths):
        requests = traffic.rate("requests", index, plan.spec.windows.rate) or 0.0
        conditions.append(path is not None and path > level and requests >= gate)
    return conditions


def _noisy(
    plan: SystemPlan, service: ServicePlan, caller: ServicePlan | None
) -> TestCase:
    """Build a test of healthy traffic whose request rate and attempts per call (1.0 to
    1.3 on each hop) change every minute. The path amplification stays below its level,
    so nothing may fire."""

    def draw(rng):
        requests = rng.choice((15.0, 20.0, 25.0))
        hop = rng.choice((1.0, 1.1, 1.2, 1.3))
        return Phase(60, requests, requests * (1 - 1 / hop))

    traffic = build_traffic(plan, service, noisy_phases(17, 40, draw))
    series = input_series(traffic, SIGNALS)
    caller_traffic = None
    if caller is not None:
        caller_traffic = build_traffic(plan, caller, noisy_phases(19, 40, draw))
        series += input_series(caller_traffic, SIGNALS)
    paths = _paths(plan, traffic, caller_traffic)
    alerts = alert_checks(
        plan,
        service,
        PATTERN,
        "critical",
        _critical_conditions(plan, service, traffic, paths),
        traffic.timeline,
        False,
    )
    via = f" behind {caller.name}" if caller is not None else ""
    name = f"noisy healthy retries at {service.name}{via} raise no amplification alert"
    return case(name, series, alerts, [], traffic.timeline)


def _case(
    plan: SystemPlan,
    service: ServicePlan,
    caller: ServicePlan | None,
    side: str,
    total: float,
) -> TestCase:
    timing = service.alerts[PATTERN]
    # The path product splits evenly between caller and callee, so each hop stays at
    # least 1 attempt per call for any total of at least 1.
    caller_hop = math.sqrt(total)
    own_hop = caller_hop if caller is not None else total
    hot_seconds = timing.for_seconds + 600
    tail_seconds = plan.spec.windows.rate + timing.keep_firing_for_seconds + 300
    phases = [_phase(600, 1.0), _phase(hot_seconds, own_hop), _phase(tail_seconds, 1.0)]
    traffic = build_traffic(plan, service, phases)
    series = input_series(traffic, SIGNALS)
    caller_traffic = None
    if caller is not None:
        caller_phases = [
            _phase(600, 1.0),
            _phase(hot_seconds, caller_hop),
            _phase(tail_seconds, 1.0),
        ]
        caller_traffic = build_traffic(plan, caller, caller_phases)
        series += input_series(caller_traffic, SIGNALS)
    paths = _paths(plan, traffic, caller_traffic)
    holds = _critical_conditions(plan, service, traffic, paths)
    alerts = alert_checks(
        plan,
        service,
        PATTERN,
        "critical",
        holds,
        traffic.timeline,
        side == "above",
        paths,
    )
    stable = 600 + hot_seconds
    at = traffic.timeline.at(stable)
    checks = [
        value_check(
            plan, service, plan.names.amplification, _hop(plan, traffic, at), stable
        ),
        value_check(plan, service, plan.names.path_amplification, paths[at], stable),
    ]
    checks += no_nan_checks(
        plan, [plan.names.amplification, plan.names.path_amplification], stable
    )
    via = f" behind {caller.name}" if caller is not None else ""
    name = f"path amplification {total:g} at {service.name}{via}: critical {side}"
    return case(name, series, alerts, checks, traffic.timeline)
