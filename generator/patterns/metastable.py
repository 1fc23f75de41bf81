"""Metastable failure: the overload that triggered it has passed, but the service stays degraded.

The alert is critical: the load has stayed below its 60 % warning for 10 minutes after
passing 65 % within the last 30 minutes. Yet more than 5 % of requests are still retries,
or p99 is still more than 10 times p50.
"""

from generator.patterns.base import Alert, Pattern, Runbook
from generator.plan import ServicePlan
from generator.rendering import has_load
from generator.scenarios.metastable import (
    has_latency_branch,
    has_retry_branch,
    scenarios,
)
from generator.spec.models import PatternId


def _needs(service: ServicePlan) -> list[str]:
    missing = []
    if not has_load(service):
        missing.append(
            "capacity.requests_per_second with requests, or cpu_usage with a CPU limit"
        )
    elif PatternId.PHASE_TRANSITION in service.disabled:
        missing.append("the load ratio (pattern phase_transition is disabled)")
    if not (has_retry_branch(service) or has_latency_branch(service)):
        missing.append(
            "retries with requests and retry_storm enabled, "
            "or latency with latency_ratio enabled"
        )
    return missing


PATTERN = Pattern(
    id=PatternId.METASTABLE,
    title="Metastable failure",
    needs=_needs,
    recordings=(),
    alerts=(
        Alert(
            "critical",
            "metastable/alert.promql.j2",
            "{service} is still degraded although its load fell to "
            "{{ $value | humanizePercentage }} of capacity after an overload",
            "humanizePercentage",
        ),
    ),
    runbook=Runbook(
        meaning="The overload has passed, but retries or queued work keep the service "
        "degraded; it does not recover on its own.",
        actions=(
            "Cut the load well below normal for a while: open circuit breakers or cap "
            "retries at the callers, shed traffic at the entry point.",
            "Drain or restart instances with long queues, then restore traffic gradually.",
        ),
    ),
    scenarios=scenarios,
    rule_files=("latency_ratio", "phase_transition", "retry_storm"),
)
