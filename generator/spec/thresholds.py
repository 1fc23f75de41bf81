"""The threshold table: every signal level a spec can set, with its default and valid range.

Each row becomes a spec field (thresholds.<signal>.<level>), a constant series that the
alerts compare against, and a line in the README's threshold table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """What a threshold measures, which fixes its valid range."""

    FRACTION = "fraction"  # a share of something, 0 < x <= 1
    CORRELATION = "correlation"  # Pearson's r, 0 < x < 1 for a lockstep alarm
    MULTIPLIER = "multiplier"  # a ratio of two rates or quantiles, x >= 1
    RATE = "rate"  # per second, x >= 0
    COUNT = "count"  # a whole number of things, x >= 1
    SCORE = "score"  # 0..100


@dataclass(frozen=True)
class Threshold:
    """One level of one signal, e.g. latency_ratio.warning = 5."""

    signal: str
    level: str
    default: float
    kind: Kind
    meaning: str


THRESHOLDS: tuple[Threshold, ...] = (
    Threshold(
        "load",
        "warning",
        0.60,
        Kind.FRACTION,
        "load ratio that raises the phase warning",
    ),
    Threshold(
        "load",
        "critical",
        0.65,
        Kind.FRACTION,
        "load ratio of the critical phase state",
    ),
    Threshold(
        "load", "transition", 0.70, Kind.FRACTION, "load ratio where the phase changes"
    ),
    Threshold(
        "latency_ratio", "warning", 5.0, Kind.MULTIPLIER, "p99/p50 latency warning"
    ),
    Threshold(
        "latency_ratio", "critical", 10.0, Kind.MULTIPLIER, "p99/p50 latency critical"
    ),
    Threshold(
        "retry_ratio", "warning", 0.05, Kind.FRACTION, "retries per request, warning"
    ),
    Threshold(
        "retry_ratio", "critical", 0.10, Kind.FRACTION, "retries per request, critical"
    ),
    Threshold(
        "retry_ratio",
        "floor",
        0.01,
        Kind.FRACTION,
        "retry ratio below which growth is ignored",
    ),
    Threshold(
        "retry_growth",
        "warning",
        1.5,
        Kind.MULTIPLIER,
        "retry ratio now / one short window earlier",
    ),
    Threshold(
        "retry_growth", "critical", 2.0, Kind.MULTIPLIER, "retry growth, critical"
    ),
    Threshold(
        "retry_amplification",
        "critical",
        4.0,
        Kind.MULTIPLIER,
        "attempts per logical call along a path",
    ),
    Threshold(
        "synchronisation",
        "warning",
        0.70,
        Kind.CORRELATION,
        "partial correlation of a pair, warning",
    ),
    Threshold(
        "synchronisation",
        "critical",
        0.90,
        Kind.CORRELATION,
        "partial correlation of a pair, critical",
    ),
    Threshold(
        "min_request_rate",
        "gate",
        1.0,
        Kind.RATE,
        "requests per second below which ratio alerts stay silent",
    ),
)

LEVEL_ORDER = ("floor", "warning", "critical", "transition")
"""Levels of one signal must not decrease in this order, where the signal has them."""

SIGNALS: tuple[str, ...] = tuple(dict.fromkeys(row.signal for row in THRESHOLDS))


def levels_of(signal: str) -> tuple[Threshold, ...]:
    """Return the rows of one signal in table order."""
    return tuple(row for row in THRESHOLDS if row.signal == signal)


def default_thresholds() -> dict[str, dict[str, float]]:
    """Return {signal: {level: default}} for every row of the table."""
    table: dict[str, dict[str, float]] = {}
    for row in THRESHOLDS:
        table.setdefault(row.signal, {})[row.level] = row.default
    return table
