"""Generated promtool tests of synchronisation: a healthy fan-out and a lockstep pair.

Traffic is built from seeded pseudo-random noise (Python's Mersenne Twister, identical on
every platform for a given seed), so the files are the same on every run.
"""

from __future__ import annotations

import math
import random
from typing import Any

from generator import naming
from generator.durations import format_duration
from generator.patterns.base import TestCase
from generator.plan import SystemPlan
from generator.promql import number, quote
from generator.scenarios import model
from generator.scenarios.cases import (
    ScenarioError,
    alert_labels,
    annotations,
    case,
    no_nan_checks,
)
from generator.scenarios.series import example_labels, series_text, values_text
from generator.spec.models import PatternId, Signal

PATTERN = PatternId.SYNCHRONISATION
ENTRY_PER_STEP = 3000.0  # requests per evaluation step at the entry point
ENTRY_NOISE = 0.10  # shared swings, one draw per step for the whole system
SERVICE_NOISE = 0.01  # each service's own variation
BURST = 0.30  # share of a lockstep pair's traffic that comes in shared bursts
SEED = 20261204


MAX_SIMULATED = 8
"""Paired services given traffic in the scenarios; the others stay absent, so their pairs
record nothing and test files stay small in large specs."""


def tested_pairs(plan: SystemPlan) -> list[tuple[str, str]]:
    """Return the pairs among at most MAX_SIMULATED services, chosen pair by pair.

    Pairs of services behind the entry are chosen first and come first in the result.
    """
    ordered = sorted(plan.pairs, key=lambda pair: _touches_entry(plan, pair))
    chosen: set[str] = set()
    for pair in ordered:
        if len(chosen | set(pair)) <= MAX_SIMULATED:
            chosen.update(pair)
    return [pair for pair in ordered if pair[0] in chosen and pair[1] in chosen]


def _touches_entry(plan: SystemPlan, pair: tuple[str, str]) -> bool:
    return pair[0] in plan.entry_services or pair[1] in plan.entry_services


def scenarios(plan: SystemPlan) -> list[TestCase]:
    pairs = tested_pairs(plan)
    if not pairs:
        return []
    cases = [_fan_out(plan, lockstep=None)]
    # Entry services are the driver that the partial correlation removes, so a lockstep
    # burst is shown on two services behind them. A system of entries only has no such pair.
    if not _touches_entry(plan, pairs[0]):
        cases.append(_fan_out(plan, lockstep=pairs[0]))
    return cases


def simulate(
    plan: SystemPlan, lockstep: tuple[str, str] | None, steps: int
) -> dict[str, list[float]]:
    """Return per-step request counts of every service in a pair or at the entry."""
    rng = random.Random(SEED)
    members = sorted(
        {name for pair in tested_pairs(plan) for name in pair}
        | set(plan.entry_services)
    )
    factors = {name: 0.5 + (index % 5) * 0.25 for index, name in enumerate(members)}
    counts: dict[str, list[float]] = {name: [] for name in members}
    entries = [name for name in members if name in plan.entry_services]
    for step in range(steps):
        daily = 1 + 0.3 * math.sin(2 * math.pi * step / steps)
        # Each entry service has its own swings. Their sum drives every other service, which
        # adds a small variation of its own to its share.
        entry_counts = {
            name: ENTRY_PER_STEP
            * factors[name]
            * daily
            * (1 + rng.gauss(0, ENTRY_NOISE))
            for name in entries
        }
        driver = sum(entry_counts.values()) / len(entries)
        burst = rng.gauss(0, 1)
        for name in members:
            noise = rng.gauss(0, SERVICE_NOISE)
            if name in entry_counts:
                value = entry_counts[name]
            else:
                value = driver * factors[name] * (1 + noise)
            if lockstep is not None and name in lockstep:
                value *= 1 + BURST * abs(burst)
            counts[name].append(float(max(0, round(value))))
    return counts


def deltas(
    counts: list[float], step_seconds: int, short_seconds: int
) -> list[float | None]:
    """Differenced short-window rates per step, as the delta recording rule computes them."""
    values = model.cumulative(counts)
    window = short_seconds // step_seconds
    rates = [model.rate(values, i, window, step_seconds) for i in range(len(values))]
    return [
        None
        if i < 1 or rates[i] is None or rates[i - 1] is None
        else rates[i] - rates[i - 1]
        for i in range(len(values))
    ]


def pearson(x: list[float], y: list[float]) -> float | None:
    n = len(x)
    mean_x, mean_y = sum(x) / n, sum(y) / n
    cov = sum(a * b for a, b in zip(x, y, strict=True)) / n - mean_x * mean_y
    sx = math.sqrt(max(sum(a * a for a in x) / n - mean_x**2, 0))
    sy = math.sqrt(max(sum(b * b for b in y) / n - mean_y**2, 0))
    return cov / (sx * sy) if sx and sy else None


def partial(r_xy: float, r_xe: float, r_ye: float) -> float:
    return (r_xy - r_xe * r_ye) / math.sqrt((1 - r_xe**2) * (1 - r_ye**2))


def _shown(value: float, level: float) -> str:
    """Format a correlation to 3 significant digits, or to more where 3 would print it
    equal to `level`, the threshold that the message compares it with."""
    for digits in range(3, 18):
        text = f"{value:.{digits}g}"
        if float(text) != level:
            return text
    return f"{value:.3g}"


def _max_partials(plan: SystemPlan, x: dict, entry: list, window) -> dict[str, float]:
    """Return each paired service's largest partial correlation at the end of the test."""
    e = window(entry)
    with_entry = {name: pearson(window(values), e) for name, values in x.items()}
    maxima: dict[str, float] = {}
    for a, b in tested_pairs(plan):
        r_ab = pearson(window(x[a]), window(x[b]))
        if r_ab is None or with_entry[a] is None or with_entry[b] is None:
            continue
        value = max(-1.0, min(1.0, partial(r_ab, with_entry[a], with_entry[b])))
        for name in (a, b):
            maxima[name] = max(maxima.get(name, -1.0), value)
    return maxima


def _fan_out(plan: SystemPlan, lockstep: tuple[str, str] | None) -> TestCase:
    step = plan.spec.evaluation_interval
    windows = plan.spec.windows
    steps = (windows.correlation + 600) // step
    counts = simulate(plan, lockstep, steps)
    series = []
    for name, per_step in counts.items():
        labels = example_labels(plan.service(name).selectors[Signal.REQUESTS])
        series.append(
            {
                "series": series_text(labels),
                "values": values_text(model.cumulative(per_step)),
            }
        )
    timeline = model.Timeline(step, steps + 1)
    end = timeline.seconds(steps)
    window_steps = windows.correlation // step
    x = {name: deltas(c, step, windows.short) for name, c in counts.items()}
    entry = [
        None
        if any(x[e][i] is None for e in plan.entry_services)
        else sum(x[e][i] for e in plan.entry_services)
        for i in range(steps + 1)
    ]

    def window(values: list[float | None]) -> list[float]:
        return [v for v in values[steps - window_steps : steps + 1] if v is not None]

    checks: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    a, b = lockstep or tested_pairs(plan)[0]
    behind_entry = not _touches_entry(plan, (a, b))
    r_ab = pearson(window(x[a]), window(x[b]))
    r_ae = pearson(window(x[a]), window(entry))
    r_be = pearson(window(x[b]), window(entry))
    if r_ab is None or r_ae is None or r_be is None:
        raise ScenarioError("the scenario traffic must vary")
    value = max(-1.0, min(1.0, partial(r_ab, r_ae, r_be)))
    pair_labels = (
        f"{{service_a={quote(a)}, service_b={quote(b)}, system={quote(plan.name)}}}"
    )
    pair_selector = (
        f"{{system={quote(plan.name)}, service_a={quote(a)}, service_b={quote(b)}}}"
    )
    if lockstep is None and behind_entry:
        # The hard case: plain correlation of the differenced rates is near 1...
        if r_ab <= 0.9:
            raise ScenarioError(
                f"healthy fan-out correlation {_shown(r_ab, 0.9)} should be above 0.9"
            )
        checks.append(
            {
                "expr": f"{plan.names.pair_correlation}{pair_selector} > bool 0.9",
                "eval_time": f"{end}s",
                "exp_samples": [{"labels": pair_labels, "value": 1}],
            }
        )
    # ...and the partial correlation, computed here independently, matches the rules.
    checks.append(
        {
            "expr": f"abs({plan.names.pair_partial}{pair_selector} - {number(value)}) < bool 1e-6",
            "eval_time": f"{end}s",
            "exp_samples": [{"labels": pair_labels, "value": 1}],
        }
    )
    checks += no_nan_checks(
        plan,
        [plan.names.pair_partial, plan.names.pair_correlation, plan.names.max_partial],
        end,
    )
    maxima = _max_partials(plan, x, entry, window)
    for name, best in maxima.items():
        warning = plan.service(name).threshold("synchronisation", "warning")
        if lockstep is None and best >= warning:
            raise ScenarioError(
                f"healthy partial correlation {_shown(best, warning)} of {name} "
                f"reaches its warning level {warning:g}"
            )
    early = timeline.seconds(timeline.steps // 4)
    for severity in ("warning", "critical"):
        alert = naming.alert_name(PATTERN.value, severity)
        alerts.append(
            {"eval_time": format_duration(early), "alertname": alert, "exp_alerts": []}
        )
        expected = []
        for name in sorted(lockstep or ()):
            service = plan.service(name)
            level = service.threshold("synchronisation", severity)
            if maxima[name] <= level:
                raise ScenarioError(
                    f"lockstep partial correlation {_shown(maxima[name], level)} of "
                    f"{name} is not above its {severity} level {level:g}"
                )
            expected.append(
                {
                    "exp_labels": alert_labels(plan, service, PATTERN, severity),
                    "exp_annotations": annotations(
                        plan, service, PATTERN, severity, maxima[name]
                    ),
                }
            )
        alerts.append(
            {
                "eval_time": format_duration(end),
                "alertname": alert,
                "exp_alerts": expected,
            }
        )
    what = (
        f"lockstep pair {a} and {b}"
        if lockstep
        else "healthy fan-out with shared swings"
    )
    return case(what, series, alerts, checks, timeline)
