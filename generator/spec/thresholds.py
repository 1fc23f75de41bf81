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


F, C, M, R, N, S = (
    Kind.FRACTION,
    Kind.CORRELATION,
    Kind.MULTIPLIER,
    Kind.RATE,
    Kind.COUNT,
    Kind.SCORE,
)

# "baseline" is the healthy level where a pattern's likelihood is 0 %; it reaches 100 % at
# the critical level.
# fmt: off
THRESHOLDS: tuple[Threshold, ...] = tuple(Threshold(*row) for row in (
    # signal                level         default kind meaning
    ("load",                "baseline",   0.50, F, "load ratio of a healthy service"),
    ("load",                "warning",    0.60, F, "load ratio that raises the phase warning"),
    ("load",                "critical",   0.65, F, "load ratio of the critical phase state"),
    ("load",                "transition", 0.70, F, "load ratio where the phase changes"),
    ("latency_ratio",       "baseline",   2.0,  M, "p99/p50 of a healthy service"),
    ("latency_ratio",       "warning",    5.0,  M, "p99/p50 latency warning"),
    ("latency_ratio",       "critical",   10.0, M, "p99/p50 latency critical"),
    ("retry_ratio",         "baseline",   0.01, F, "retries per request of a healthy service"),
    ("retry_ratio",         "floor",      0.01, F, "retry ratio below which growth is ignored"),
    ("retry_ratio",         "warning",    0.05, F, "retries per request, warning"),
    ("retry_ratio",         "critical",   0.10, F, "retries per request, critical"),
    ("retry_growth",        "baseline",   1.0,  M, "retry growth of a steady service"),
    ("retry_growth",        "warning",    1.5,  M, "retry ratio now / one short window earlier"),
    ("retry_growth",        "critical",   2.0,  M, "retry growth, critical"),
    ("retry_amplification", "baseline",   1.0,  M, "attempts per call without retries"),
    ("retry_amplification", "critical",   4.0,  M, "attempts per logical call along a path"),
    ("synchronisation",     "baseline",   0.50, C, "partial correlation of a healthy pair"),
    ("synchronisation",     "warning",    0.70, C, "partial correlation of a pair, warning"),
    ("synchronisation",     "critical",   0.90, C, "partial correlation of a pair, critical"),
    ("gc_time",             "baseline",   0.05, F, "share of time in GC of a healthy runtime"),
    ("gc_time",             "warning",    0.20, F, "share of time in GC, worst instance, warning"),
    ("gc_time",             "critical",   0.50, F, "share of time in GC, worst instance, critical"),
    ("cache_miss_spike",    "baseline",   1.0,  M, "miss rate / its baseline when steady"),
    ("cache_miss_spike",    "warning",    10.0, M, "miss rate / its baseline, warning"),
    ("cache_miss_spike",    "critical",   100.0, M, "miss rate / its baseline, critical"),
    ("db_connections",      "baseline",   0.50, F, "connections / max connections when healthy"),
    ("db_connections",      "warning",    0.80, F, "connections / max connections, warning"),
    ("db_connections",      "critical",   0.95, F, "connections / max connections, critical"),
    ("db_connection_count", "warning",    800.0, N, "open connections where no maximum is known"),
    ("db_connection_count", "critical",   1000.0, N, "open connections where no maximum is known"),
    ("cascade",             "dependencies", 2.0, N, "direct dependencies with a critical alert"),
    ("risk",                "warning",    30.0, S, "risk score of the WARNING health state"),
    ("risk",                "critical",   60.0, S, "risk score of the CRITICAL health state"),
    ("min_request_rate",    "gate",       1.0,  R, "requests per second below which ratio alerts stay silent"),
))
# fmt: on

LEVEL_ORDER = ("baseline", "floor", "warning", "critical", "transition")
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
