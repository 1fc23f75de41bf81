"""Retry amplification runaway: retries at every hop multiply along the call path.

Three attempts at each of two hops make nine calls at the second; past 4 attempts per
logical call along any path, a small failure deep in the graph becomes an overload.
"""

from generator.patterns.base import Alert, Pattern, Recording, Runbook, needs_signals
from generator.scenarios.retry_amplification import scenarios
from generator.spec.models import PatternId, Signal

PATTERN = Pattern(
    id=PatternId.RETRY_AMPLIFICATION,
    title="Retry amplification runaway",
    needs=needs_signals(Signal.REQUESTS, Signal.RETRIES),
    recordings=(
        Recording("amplification", "retry_amplification/hop.promql.j2"),
        Recording("path_amplification", "retry_amplification/path.promql.j2"),
    ),
    alerts=(
        Alert(
            "critical",
            "retry_amplification/alert.promql.j2",
            "calls reaching {service} are multiplied {{ $value | humanize }} times by retries along their path",
        ),
    ),
    runbook=Runbook(
        meaning="Retries at several hops multiply, so one logical call becomes many attempts.",
        actions=(
            "Retry at one layer only, normally the edge; make inner hops fail fast.",
            "Use retry budgets so retries stay a fixed share of traffic at every hop.",
        ),
    ),
    scenarios=scenarios,
    ordered=True,
)
