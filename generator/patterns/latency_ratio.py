"""Latency ratio: p99 pulling away from p50 means queues are forming somewhere.

A healthy service keeps its p99 within a few times its p50; a ratio above 5 shows requests
waiting behind others, above 10 the tail has detached from the typical request.
"""

from generator.patterns.base import Alert, Pattern, Recording, Runbook, needs_signals
from generator.scenarios.latency_ratio import scenarios
from generator.spec.models import PatternId, Signal

PATTERN = Pattern(
    id=PatternId.LATENCY_RATIO,
    title="Latency ratio",
    needs=needs_signals(Signal.LATENCY),
    recordings=(
        Recording("latency_bucket", "latency_ratio/bucket_rate.promql.j2"),
        Recording("latency_p50", "latency_ratio/p50.promql.j2"),
        Recording("latency_p99", "latency_ratio/p99.promql.j2"),
        Recording("latency_ratio", "latency_ratio/ratio.promql.j2"),
        Recording("latency_ratio_slope", "latency_ratio/slope.promql.j2"),
    ),
    alerts=(
        Alert(
            "warning",
            "latency_ratio/alert.promql.j2",
            "p99 latency of {service} is {{ $value | humanize }} times its p50",
        ),
        Alert(
            "critical",
            "latency_ratio/alert.promql.j2",
            "p99 latency of {service} is {{ $value | humanize }} times its p50: the tail has detached",
        ),
    ),
    runbook=Runbook(
        meaning="Some requests wait far longer than the typical one: queues, locks or retries.",
        actions=(
            "Compare the load ratio with the phase transition level; shed or scale if near it.",
            "Look for one slow dependency: a ratio rising in a callee first points there.",
        ),
    ),
    scenarios=scenarios,
)
