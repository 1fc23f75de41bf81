"""Retry storm: retries add load faster than the backend can shed it.

More than 5 % of requests being retries, or the retry ratio growing 1.5 times within one
short window while above 1 %, is a warning; above 10 %, or doubling, is critical.
"""

from generator.patterns.base import Alert, Pattern, Recording, Runbook, needs_signals
from generator.scenarios.retry_storm import scenarios
from generator.spec.models import PatternId, Signal

PATTERN = Pattern(
    id=PatternId.RETRY_STORM,
    title="Retry storm",
    needs=needs_signals(Signal.REQUESTS, Signal.RETRIES),
    recordings=(
        Recording("retry_ratio", "retry_storm/ratio.promql.j2"),
        Recording("retry_ratio_short", "retry_storm/ratio_short.promql.j2"),
        Recording("retry_growth", "retry_storm/growth.promql.j2"),
    ),
    alerts=(
        Alert(
            "warning",
            "retry_storm/alert.promql.j2",
            "{{ $value | humanizePercentage }} of requests to {service} are retries, or their share is growing",
            "humanizePercentage",
        ),
        Alert(
            "critical",
            "retry_storm/alert.promql.j2",
            "{{ $value | humanizePercentage }} of requests to {service} are retries, or their share doubles",
            "humanizePercentage",
        ),
    ),
    runbook=Runbook(
        meaning="Callers resend failed requests, so load rises while successes fall.",
        actions=(
            "Open circuit breakers or cap retries at the callers of this service.",
            "Raise retry backoff with jitter; shed load at the entry point if the ratio still grows.",
        ),
    ),
    scenarios=scenarios,
)
