"""Generated promtool tests of the thundering herd: each level both sides, and silence.

Every herd starts after a calm phase as long as the baseline and rate windows together, so
the baseline is the calm miss rate when the herd begins. The herd keeps its miss rate at a
fixed multiple of the baseline, which sets the spike the rules see after one rate window.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from generator import naming
from generator.durations import format_duration
from generator.patterns.base import TestCase
from generator.plan import ServicePlan, SystemPlan
from generator.scenarios import model
from generator.scenarios.cases import (
    ScenarioError,
    absent_check,
    alert_checks,
    case,
    no_nan_checks,
    subject,
    value_check,
)
from generator.scenarios.series import example_labels, series_text, values_text
from generator.spec.models import PatternId, Signal

PATTERN = PatternId.THUNDERING_HERD
MARGIN = 0.02  # "just above" and "just below" a level: 2 % either side
CALM_MISSES = 2.0  # per second
HITS = 98.0  # per second
MAXIMUM = 200.0  # maximum connections reported by the max series in the tests
HELD_STEPS = 8  # steps the herd lasts beyond the rate window and the `for` time
INSTANCE_LABEL = "instance"  # splits the connection gauge over two series


def has_connection_limit(service: ServicePlan) -> bool:
    """Return whether the connection ratio is recorded, from a max series or the spec."""
    return service.has(Signal.DB_CONNECTIONS) and (
        service.has(Signal.DB_CONNECTIONS_MAX) or service.max_connections is not None
    )


@dataclass(frozen=True)
class Inputs:
    """One test's input values per evaluation step."""

    misses: list[float]  # counter
    hits: list[float]  # counter
    connections: list[float]  # gauge, the sum over its series
    maximum: float | None  # value of the max series, None where the test feeds none


@dataclass(frozen=True)
class Signals:
    """Values the rules record at one evaluation step."""

    misses: float | None
    baseline: float | None
    spike: float | None
    hit_ratio: float | None
    connections: float | None
    connection_ratio: float | None


@dataclass(frozen=True)
class Herd:
    """A calm phase, a herd of `spike` times the baseline with `connections` open, then calm.

    With `maximum` None the test feeds no max series, so the rules fall back to the count.
    """

    spike: float
    connections: float
    calm_connections: float
    maximum: float | None = MAXIMUM
    calm_misses: float = CALM_MISSES


def scenarios(plan: SystemPlan) -> list[TestCase]:
    service = subject(plan, PATTERN, lambda s: s.has(Signal.CACHE_MISSES))
    if service is None:
        return []
    cases = []
    for severity in ("warning", "critical"):
        cases += _levels(plan, service, severity)
    cases.append(_steady(plan, service))
    cases.append(_noisy(plan, service))
    gated = _under_gate(plan, service)
    if gated is not None:
        cases.append(gated)
    cases.append(_zero_baseline(plan, service))
    cases.append(_idle(plan, service))
    cases += _other_exporters(plan, service)
    return cases


def _levels(plan: SystemPlan, service: ServicePlan, severity: str) -> list[TestCase]:
    """Both sides of the spike level with connections high, and of the connection level."""
    level = service.threshold("cache_miss_spike", severity)
    above, below = level * (1 + MARGIN), level * (1 - MARGIN)
    cases = []
    for spike, side in ((above, "above"), (below, "below")):
        herd = _connections_at(service, severity, spike, 1 + MARGIN)
        name = f"miss spike {side} the {severity} level {level:g} with connections high"
        cases.append(_case(plan, service, severity, name, herd, side == "above"))
    if not service.has(Signal.DB_CONNECTIONS):
        return cases
    herd = _connections_at(service, severity, above, 1 - MARGIN)
    name = f"miss spike above the {severity} level with connections just below theirs"
    cases.append(_case(plan, service, severity, name, herd, False))
    if service.has(Signal.DB_CONNECTIONS_MAX) and service.max_connections is None:
        # Where the max series is missing the rules fall back to the connection count.
        count = service.threshold("db_connection_count", severity)
        calm = service.threshold("db_connection_count", "warning") / 2
        for factor, side in ((1 + MARGIN, "above"), (1 - MARGIN, "below")):
            herd = Herd(above, count * factor, calm, maximum=None)
            name = (
                f"miss spike above the {severity} level, no maximum series and "
                f"connections {side} {count:g}"
            )
            cases.append(_case(plan, service, severity, name, herd, side == "above"))
    return cases


def _connections_at(
    service: ServicePlan, severity: str, spike: float, factor: float
) -> Herd:
    """Return a herd whose connections are `factor` times the severity's connection level: the
    ratio where a maximum is known, else the count."""
    if has_connection_limit(service):
        denominator = _maximum(service)
        ratio = service.threshold("db_connections", severity) * factor
        calm = service.threshold("db_connections", "baseline") * denominator
        return Herd(spike, ratio * denominator, calm)
    count = service.threshold("db_connection_count", severity) * factor
    calm = service.threshold("db_connection_count", "warning") / 2
    return Herd(spike, count, calm, maximum=None)


def _maximum(service: ServicePlan) -> float:
    """Return the connection ratio's denominator in the tests: the max series where the service
    has one, which the tests feed as MAXIMUM, else the spec's max_connections."""
    if service.has(Signal.DB_CONNECTIONS_MAX) or service.max_connections is None:
        return MAXIMUM
    return service.max_connections


def _steady(plan: SystemPlan, service: ServicePlan) -> TestCase:
    herd = _connections_at(service, "critical", 1.0, 1 + MARGIN)
    name = "steady miss rate with connections high"
    return _case(plan, service, "critical", name, herd, False)


def _noisy(plan: SystemPlan, service: ServicePlan) -> TestCase:
    """Build a test of a steady miss rate, then misses wobbling up to 30 % either side of
    it every minute with connections around half their warning level: no herd alert may
    fire. The steady start fills the baseline window, so a spike is recorded throughout
    the noise."""
    step = plan.spec.evaluation_interval
    windows = plan.spec.windows
    rng = random.Random(31)
    calm_steps = (windows.rate + windows.baseline) // step
    noisy_minutes = 40
    per_minute = 60 // step
    half = _connections_at(service, "warning", 1.0, 0.5)
    increments = [CALM_MISSES * step] * calm_steps
    connections = [half.connections] * (calm_steps + 1)
    for _ in range(noisy_minutes):
        share = rng.choice((0.7, 0.85, 1.0, 1.15, 1.3))
        increments += [CALM_MISSES * share * step] * per_minute
        connections += [half.connections * rng.choice((0.8, 1.0, 1.2))] * per_minute
    misses = model.cumulative(increments)
    hits = model.cumulative([HITS * step] * len(increments))
    inputs = Inputs(misses, hits, connections, half.maximum)
    timeline = model.Timeline(step, len(misses))
    signals = modelled(plan, service, inputs, timeline)
    alerts = []
    for severity in ("warning", "critical"):
        conditions = [condition(service, severity, s) for s in signals]
        alerts += alert_checks(
            plan, service, PATTERN, severity, conditions, timeline, False
        )
    name = f"noisy healthy misses at {service.name} raise no herd alert"
    return case(name, input_series(service, inputs), alerts, [], timeline)


def _under_gate(plan: SystemPlan, service: ServicePlan) -> TestCase | None:
    """Return a case of a herd above the warning level whose misses stay under the gate."""
    gate = service.threshold("min_request_rate", "gate")
    if gate <= 0:
        return None
    spike = service.threshold("cache_miss_spike", "warning") * (1 + MARGIN)
    herd = _connections_at(service, "warning", spike, 1 + MARGIN)
    herd = Herd(
        herd.spike,
        herd.connections,
        herd.calm_connections,
        herd.maximum,
        calm_misses=gate / 1000,
    )
    name = "miss spike above the warning level with misses under the gate"
    return _case(plan, service, "warning", name, herd, False)


def herd_misses(plan: SystemPlan, herd: Herd, for_seconds: int) -> list[float]:
    """Return the miss counter: calm, one rate window at `spike` times the calm rate, the
    spike held while the baseline takes it in, then calm again.

    While held, each value is chosen so that rate / baseline is exactly `spike`:
    v(t) = v(t - r) + spike * (r / b) * (v(t - r) - v(t - r - b)) for the rate window r
    and the baseline window b, which makes the miss rate grow as the baseline does.
    """
    step = plan.spec.evaluation_interval
    windows = plan.spec.windows
    rate_steps = windows.rate // step
    baseline_steps = windows.baseline // step
    calm_steps = rate_steps + baseline_steps
    values = [0.0]
    for _ in range(calm_steps):
        values.append(values[-1] + herd.calm_misses * step)
    for _ in range(rate_steps):
        values.append(values[-1] + herd.spike * herd.calm_misses * step)
    scale = herd.spike * windows.rate / windows.baseline
    for _ in range(for_seconds // step + HELD_STEPS):
        start = len(values) - rate_steps
        earlier = values[max(0, start - baseline_steps)]
        values.append(values[start] + scale * (values[start] - earlier))
    for _ in range(_tail_steps(plan)):
        values.append(values[-1] + herd.calm_misses * step)
    if any(later < earlier for earlier, later in pairwise(values)):
        raise ScenarioError(f"the miss counter of a {herd.spike:g} spike decreases")
    return values


def _tail_steps(plan: SystemPlan) -> int:
    """Steps after the herd: the rate window, the longest keep_firing_for, 5 more minutes."""
    keep = max(s.alerts[PATTERN].keep_firing_for_seconds for s in plan.services)
    return (plan.spec.windows.rate + keep + 300) // plan.spec.evaluation_interval


def _inputs(plan: SystemPlan, service: ServicePlan, herd: Herd) -> tuple[Inputs, int]:
    """Return the inputs of a herd and the index of its last step."""
    step = plan.spec.evaluation_interval
    misses = herd_misses(plan, herd, service.alerts[PATTERN].for_seconds)
    hits = model.cumulative([HITS * step] * (len(misses) - 1))
    calm_steps = (plan.spec.windows.rate + plan.spec.windows.baseline) // step
    end = len(misses) - 1 - _tail_steps(plan)
    connections = [
        herd.connections if calm_steps < index <= end else herd.calm_connections
        for index in range(len(misses))
    ]
    return Inputs(misses, hits, connections, herd.maximum), end


def modelled(
    plan: SystemPlan,
    service: ServicePlan,
    inputs: Inputs,
    timeline: model.Timeline,
) -> list[Signals]:
    step = timeline.step_seconds
    windows = plan.spec.windows
    rate_steps = windows.rate // step
    baseline_steps = windows.baseline // step
    result = []
    for index in range(timeline.steps):
        misses = model.rate(inputs.misses, index, rate_steps, step)
        baseline = model.rate(inputs.misses, index - rate_steps, baseline_steps, step)
        # The spike also needs a recorded miss rate one baseline window earlier.
        history = index - baseline_steps >= 1
        spike = misses / baseline if misses is not None and baseline else None
        spike = spike if history else None
        hits = model.rate(inputs.hits, index, rate_steps, step)
        hit_ratio = None
        if service.has(Signal.CACHE_HITS) and hits is not None and misses is not None:
            hit_ratio = hits / (hits + misses) if hits + misses > 0 else None
        connections = ratio = None
        if service.has(Signal.DB_CONNECTIONS):
            connections = sum(_parts(inputs.connections[index], service))
            ratio = _connection_ratio(service, connections, inputs.maximum)
        result.append(Signals(misses, baseline, spike, hit_ratio, connections, ratio))
    return result


def _connection_ratio(
    service: ServicePlan, connections: float, maximum: float | None
) -> float | None:
    """Mirror connection_ratio.promql.j2: the max series where fed and above 0, else the
    spec's max_connections."""
    if not has_connection_limit(service):
        return None
    if service.has(Signal.DB_CONNECTIONS_MAX) and maximum is not None and maximum > 0:
        return connections / maximum
    if service.max_connections is not None:
        return connections / service.max_connections
    return None


def condition(service: ServicePlan, severity: str, signals: Signals) -> bool:
    spike = signals.spike
    if spike is None or spike <= service.threshold("cache_miss_spike", severity):
        return False
    gate = service.threshold("min_request_rate", "gate")
    if signals.misses is None or signals.misses < gate:
        return False
    if not service.has(Signal.DB_CONNECTIONS):
        return True
    if signals.connection_ratio is not None:
        return signals.connection_ratio > service.threshold("db_connections", severity)
    count = service.threshold("db_connection_count", severity)
    return signals.connections is not None and signals.connections > count


def _case(
    plan: SystemPlan,
    service: ServicePlan,
    severity: str,
    description: str,
    herd: Herd,
    expect_firing: bool,
) -> TestCase:
    inputs, end = _inputs(plan, service, herd)
    timeline = model.Timeline(plan.spec.evaluation_interval, len(inputs.misses))
    signals = modelled(plan, service, inputs, timeline)
    conditions = [condition(service, severity, s) for s in signals]
    spikes = [s.spike for s in signals]
    alerts = alert_checks(
        plan, service, PATTERN, severity, conditions, timeline, expect_firing, spikes
    )
    if not expect_firing:
        # Also where the alert would fire if the herd crossed its levels, and at its end.
        rate_steps = plan.spec.windows.rate // timeline.step_seconds
        for_steps = service.alerts[PATTERN].for_seconds // timeline.step_seconds
        herd_start = end - for_steps - HELD_STEPS - rate_steps
        fire = herd_start + rate_steps + for_steps
        alerts += _silent_checks(service, severity, timeline, (fire, end))
    at = timeline.seconds(end)
    checks = _value_checks(plan, service, signals[end], at)
    name = f"{description}: {severity} for {service.name}"
    return case(name, input_series(service, inputs), alerts, checks, timeline)


def _value_checks(
    plan: SystemPlan, service: ServicePlan, signals: Signals, at: int
) -> list[dict[str, Any]]:
    names = plan.names
    expected = (
        (names.cache_misses, signals.misses),
        (names.cache_miss_baseline, signals.baseline),
        (names.cache_miss_spike, signals.spike),
        (names.cache_hit_ratio, signals.hit_ratio),
        (names.db_connections, signals.connections),
        (names.db_connection_ratio, signals.connection_ratio),
    )
    return [
        value_check(plan, service, series, value, at)
        for series, value in expected
        if value is not None
    ]


def _zero_baseline(plan: SystemPlan, service: ServicePlan) -> TestCase:
    """Misses start after an hour without any and last one rate window: the baseline is
    still zero, so no spike is recorded, nothing is NaN and nothing fires."""
    step = plan.spec.evaluation_interval
    rate_steps = plan.spec.windows.rate // step
    calm_steps = 600 // step
    increments = [0.0] * calm_steps + [CALM_MISSES * step] * rate_steps
    misses = model.cumulative(increments)
    hits = model.cumulative([HITS * step] * len(increments))
    high = _connections_at(service, "critical", 1.0, 1 + MARGIN)
    connections = [high.calm_connections] * (calm_steps + 1) + [
        high.connections
    ] * rate_steps
    inputs = Inputs(misses, hits, connections, high.maximum)
    timeline = model.Timeline(step, len(misses))
    end = timeline.seconds(timeline.steps - 1)
    signals = modelled(plan, service, inputs, timeline)
    checks = no_nan_checks(plan, _recorded(plan), end)
    checks.append(absent_check(plan, service, plan.names.cache_miss_spike, end))
    checks += _value_checks(plan, service, signals[-1], end)
    alerts = _silent(plan, service, timeline)
    name = f"misses after a zero baseline record no spike for {service.name}"
    return case(name, input_series(service, inputs), alerts, checks, timeline)


def _idle(plan: SystemPlan, service: ServicePlan) -> TestCase:
    """Counters that do not move and no connections: no spike, no hit ratio, no NaN."""
    step = plan.spec.evaluation_interval
    steps = 1200 // step
    zeros = model.cumulative([0.0] * steps)
    inputs = Inputs(zeros, zeros, [0.0] * (steps + 1), MAXIMUM)
    timeline = model.Timeline(step, steps + 1)
    end = timeline.seconds(steps)
    checks = no_nan_checks(plan, _recorded(plan), end)
    checks.append(absent_check(plan, service, plan.names.cache_miss_spike, end))
    checks.append(absent_check(plan, service, plan.names.cache_hit_ratio, end))
    alerts = _silent(plan, service, timeline)
    name = f"idle cache of {service.name} records no spike and raises nothing"
    return case(name, input_series(service, inputs), alerts, checks, timeline)


def _recorded(plan: SystemPlan) -> list[str]:
    names = plan.names
    return [
        names.cache_misses,
        names.cache_miss_baseline,
        names.cache_miss_spike,
        names.cache_hit_ratio,
        names.db_connections,
        names.db_connection_ratio,
    ]


def _silent(
    plan: SystemPlan, service: ServicePlan, timeline: model.Timeline
) -> list[dict[str, Any]]:
    alerts = []
    for severity in ("warning", "critical"):
        alerts += alert_checks(
            plan,
            service,
            PATTERN,
            severity,
            [False] * timeline.steps,
            timeline,
            False,
        )
    return alerts


def _silent_checks(
    service: ServicePlan,
    severity: str,
    timeline: model.Timeline,
    indices: tuple[int, ...],
) -> list[dict[str, Any]]:
    name = naming.alert_name(PATTERN.value, severity)
    return [
        {
            "eval_time": format_duration(timeline.seconds(i)),
            "alertname": name,
            "exp_alerts": [],
        }
        for i in indices
    ]


def _signature(service: ServicePlan) -> tuple[str | None, ...]:
    """Return the metric names a service's herd rules read, which differ by exporter."""
    signals = (Signal.CACHE_MISSES, Signal.DB_CONNECTIONS, Signal.DB_CONNECTIONS_MAX)
    return tuple(
        service.selectors[s].metric if service.has(s) else None for s in signals
    )


def _other_exporters(plan: SystemPlan, first: ServicePlan) -> list[TestCase]:
    """Return a critical herd case for each further combination of cache and database
    exporters."""
    seen = {_signature(first)}
    cases = []
    for service in plan.services:
        if PATTERN in service.disabled or not service.has(Signal.CACHE_MISSES):
            continue
        signature = _signature(service)
        if signature in seen:
            continue
        seen.add(signature)
        spike = service.threshold("cache_miss_spike", "critical") * (1 + MARGIN)
        herd = _connections_at(service, "critical", spike, 1 + MARGIN)
        name = "miss spike above the critical level with connections high"
        cases.append(_case(plan, service, "critical", name, herd, True))
    return cases


def _parts(connections: float, service: ServicePlan) -> list[float]:
    """Split the connection count over two instances, unless the selector fixes one."""
    selector = service.selectors[Signal.DB_CONNECTIONS]
    if any(m.label == INSTANCE_LABEL for m in selector.matchers):
        return [connections]
    # Halving is exact in binary floating point, so the two halves sum to the count.
    return [connections / 2, connections / 2]


def input_series(service: ServicePlan, inputs: Inputs) -> list[dict[str, Any]]:
    """Return the promtool input series of the cache and database signals."""
    series = []
    selectors = service.selectors
    misses = example_labels(selectors[Signal.CACHE_MISSES])
    series.append(_series(misses, inputs.misses))
    if service.has(Signal.CACHE_HITS):
        hits = example_labels(selectors[Signal.CACHE_HITS])
        series.append(_series(hits, inputs.hits))
    if service.has(Signal.DB_CONNECTIONS):
        labels = example_labels(selectors[Signal.DB_CONNECTIONS])
        columns = [_parts(value, service) for value in inputs.connections]
        if len(columns[0]) == 1:
            series.append(_series(labels, [parts[0] for parts in columns]))
        else:
            for position, instance in enumerate(("a", "b")):
                values = [parts[position] for parts in columns]
                series.append(_series({**labels, INSTANCE_LABEL: instance}, values))
    if service.has(Signal.DB_CONNECTIONS_MAX) and inputs.maximum is not None:
        labels = example_labels(selectors[Signal.DB_CONNECTIONS_MAX])
        series.append(_series(labels, [inputs.maximum] * len(inputs.connections)))
    return series


def _series(labels: dict[str, str], values: list[float]) -> dict[str, Any]:
    return {"series": series_text(labels), "values": values_text(values)}
