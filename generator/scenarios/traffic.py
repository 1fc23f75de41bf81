"""Synthetic traffic for one service, as promtool input series and as modelled signals.

A scenario is a list of phases, each holding constant rates for some minutes. The same
numbers become the counters promtool reads and the values `model` expects the rules to
record, step by step.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from generator.plan import ServicePlan, SystemPlan
from generator.promql import number
from generator.scenarios import model
from generator.scenarios.series import example_labels, series_text, values_text
from generator.spec.models import Signal

LOW_BUCKET = 100.0
"""Upper bound of the bucket holding 98 % of observations; p50 lies inside it."""
LOW_SHARE = 0.98


@dataclass(frozen=True)
class Phase:
    """Constant traffic of one service for `seconds`."""

    seconds: int
    requests: float = 10.0  # per second, counting attempts
    retries: float = 0.0  # per second
    latency_ratio: float = 2.0  # p99 / p50 the histogram is shaped to
    cpu_cores: float = 0.0
    retry_growth: float = (
        1.0  # factor the retry rate grows by per minute within the phase
    )


HEALTHY = Phase(seconds=600)


@dataclass
class Traffic:
    """Inputs and modelled signals of one service over a timeline."""

    service: ServicePlan
    timeline: model.Timeline
    per_step: dict[str, list[float]] = field(default_factory=dict)  # counter increments
    counters: dict[str, list[float]] = field(default_factory=dict)
    buckets: list[float] = field(default_factory=list)  # finite upper bounds, ascending
    cpu_limit: float = 0.5

    def rate(self, counter: str, index: int, window_seconds: int) -> float | None:
        steps = window_seconds // self.timeline.step_seconds
        return model.rate(
            self.counters[counter], index, steps, self.timeline.step_seconds
        )


def build_traffic(
    plan: SystemPlan, service: ServicePlan, phases: list[Phase]
) -> Traffic:
    """Turn phases into per-step counter increments for every signal the service has."""
    step = plan.spec.evaluation_interval
    total = sum(phase.seconds for phase in phases)
    timeline = model.Timeline(step, total // step + 1)
    traffic = Traffic(service=service, timeline=timeline)
    ratios = sorted({phase.latency_ratio for phase in phases})
    traffic.buckets = _bucket_bounds(ratios)
    increments: dict[str, list[float]] = {}
    for phase in phases:
        for i in range(phase.seconds // step):
            minutes = i * step / 60
            retries = phase.retries * phase.retry_growth**minutes
            _append(increments, "requests", phase.requests * step)
            _append(increments, "retries", retries * step)
            _append(increments, "cpu", phase.cpu_cores * step)
            observations = phase.requests * step
            for bound, count in _bucket_increments(
                traffic.buckets, ratios, phase, observations
            ):
                _append(increments, f"le={bound!r}", count)
    traffic.per_step = increments
    traffic.counters = {
        name: model.cumulative(values) for name, values in increments.items()
    }
    return traffic


def _append(table: dict[str, list[float]], key: str, value: float) -> None:
    table.setdefault(key, []).append(value)


def _bucket_bounds(ratios: list[float]) -> list[float]:
    """Choose bucket bounds so each ratio K has its own bucket (B_prev, B] holding p99.

    98 % of observations fall at or below LOW_BUCKET and 2 % in the ratio's bucket, so
    p50 = LOW_BUCKET * 0.5 / 0.98 and p99 = (B_prev + B) / 2 by linear interpolation;
    B = 2 K p50 - B_prev makes p99 / p50 = K.
    """
    p50 = LOW_BUCKET * 0.5 / LOW_SHARE
    bounds = [LOW_BUCKET]
    for ratio in ratios:
        upper = 2 * ratio * p50 - bounds[-1]
        if upper <= bounds[-1]:
            raise ValueError(
                f"latency ratios {ratios} are too close for distinct buckets"
            )
        bounds.append(upper)
    return bounds


def _bucket_increments(
    bounds: list[float], ratios: list[float], phase: Phase, observations: float
) -> list[tuple[float, float]]:
    """Return cumulative bucket increments (bound, count) for one step, +Inf last."""
    low = observations * LOW_SHARE
    tail_bucket = ratios.index(phase.latency_ratio) + 1
    result = []
    for position, bound in enumerate(bounds):
        result.append((bound, low if position < tail_bucket else observations))
    result.append((math.inf, observations))
    return result


def input_series(traffic: Traffic, signals: tuple[Signal, ...]) -> list[dict[str, Any]]:
    """Return promtool input series for the given signals of the service."""
    service = traffic.service
    series = []
    for signal in signals:
        if signal not in service.selectors:
            continue
        labels = example_labels(service.selectors[signal])
        if signal is Signal.REQUESTS:
            series.append(_series(labels, traffic.counters["requests"]))
        elif signal is Signal.RETRIES:
            series.append(_series(labels, traffic.counters["retries"]))
        elif signal is Signal.CPU_USAGE:
            series.append(_series(labels, traffic.counters["cpu"]))
        elif signal is Signal.CPU_LIMIT:
            values = [traffic.cpu_limit] * traffic.timeline.steps
            series.append(_series(labels, values))
        elif signal is Signal.LATENCY:
            for bound in [*traffic.buckets, math.inf]:
                le = "+Inf" if bound == math.inf else number(bound)
                series.append(
                    _series({**labels, "le": le}, traffic.counters[f"le={bound!r}"])
                )
    return series


def _series(labels: dict[str, str], values: list[float]) -> dict[str, Any]:
    return {"series": series_text(labels), "values": values_text(values)}


def latency_ratio_at(traffic: Traffic, index: int, window_seconds: int) -> float | None:
    """Return the modelled p99/p50 ratio at a step, None where the rule records nothing."""
    buckets = []
    for bound in [*traffic.buckets, math.inf]:
        rate = traffic.rate(f"le={bound!r}", index, window_seconds)
        if rate is None:
            return None
        buckets.append((bound, rate))
    if buckets[-1][1] <= 0:
        return None
    p50 = model.histogram_quantile(0.5, buckets)
    p99 = model.histogram_quantile(0.99, buckets)
    if p50 is None or p99 is None or p50 <= 0:
        return None
    return p99 / p50


def with_seconds(phase: Phase, seconds: int) -> Phase:
    return replace(phase, seconds=seconds)


def noisy_phases(
    seed: int, minutes: int, make: Callable[[random.Random], Phase]
) -> list[Phase]:
    """Return one-minute phases whose rates `make` draws from a seeded generator, so noisy
    healthy traffic is the same in every generated file."""
    rng = random.Random(seed)
    return [replace(make(rng), seconds=60) for _ in range(minutes)]
