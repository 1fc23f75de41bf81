"""An exact model of what Prometheus 2.42 computes at each evaluation step of a test.

Generated tests state the time an alert fires and the value a rule records, so those are
computed here from the same synthetic inputs. The model covers only what the scenarios
use: counters that start at 0 at time 0 and are sampled at every evaluation step.

For such a counter, 2.42's rate() over a window of w seconds at step t is
(v(t) - v(max(0, t - w))) / w: the range is closed at both ends, so a full window starts
on a sample and needs no extrapolation, and a window reaching back before time 0 is not
extrapolated past the first sample because the counter starts at zero there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Timeline:
    """Evaluation steps of one test: step i is at i * step_seconds."""

    step_seconds: int
    steps: int

    def at(self, seconds: int) -> int:
        if seconds % self.step_seconds:
            raise ValueError(
                f"{seconds}s is not a multiple of the {self.step_seconds}s step"
            )
        return seconds // self.step_seconds

    def seconds(self, index: int) -> int:
        return index * self.step_seconds


def cumulative(increments: Sequence[float]) -> list[float]:
    """Return counter values starting at 0 for the given increments per step."""
    values = [0.0]
    for increment in increments:
        values.append(values[-1] + increment)
    return values


def rate(
    values: Sequence[float], index: int, window_steps: int, step_seconds: int
) -> float | None:
    """Return rate() at step `index` over a window of `window_steps` steps, or None."""
    if index < 1 or index >= len(values):
        return None
    start = max(0, index - window_steps)
    return (values[index] - values[start]) / (window_steps * step_seconds)


def histogram_quantile(
    q: float, buckets: Sequence[tuple[float, float]]
) -> float | None:
    """Return PromQL's histogram_quantile for (upper bound, cumulative rate) pairs."""
    buckets = sorted(buckets)
    if len(buckets) < 2 or buckets[-1][0] != math.inf:
        return None
    total = buckets[-1][1]
    if total == 0:
        return None  # Prometheus returns NaN here; the rules drop it.
    rank = q * total
    index = next(i for i, (_, count) in enumerate(buckets) if count >= rank)
    if index == len(buckets) - 1:
        return buckets[-2][0]
    start = 0.0 if index == 0 else buckets[index - 1][0]
    below = 0.0 if index == 0 else buckets[index - 1][1]
    end, count = buckets[index]
    return start + (end - start) * (rank - below) / (count - below)


def firing(condition: Sequence[bool], for_steps: int, keep_steps: int) -> list[bool]:
    """Return, per step, whether an alert with these `for` and `keep_firing_for` fires.

    An alert becomes active at the first step its condition holds and fires once it has
    been active for `for_steps`; after the condition clears it keeps firing until
    `keep_steps` steps have passed since the first step without it.
    """
    states = []
    active_since: int | None = None
    is_firing = False
    clear_since: int | None = None
    for index, holds in enumerate(condition):
        if holds:
            clear_since = None
            if active_since is None:
                active_since = index
            if index - active_since >= for_steps:
                is_firing = True
        elif is_firing:
            if clear_since is None:
                clear_since = index
            if index - clear_since >= keep_steps:
                is_firing = False
                active_since = None
                clear_since = None
        else:
            active_since = None
        states.append(is_firing)
    return states


def least_squares_slope(points: Sequence[tuple[float, float]]) -> float | None:
    """Return the slope PromQL's deriv() fits to (seconds, value) points."""
    if len(points) < 2:
        return None
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in points)
    return sxy / sxx if sxx else None
