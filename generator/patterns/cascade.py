"""Cascade: a failure travelling along the call graph.

At least 2 direct dependencies of a service have a critical emergence alert firing, and
the service's own error ratio or p99/p50 latency ratio rises (a positive slope over the
15m trend window). The failure is then reaching the service: critical after 5m. Services
with fewer direct dependencies than that level get the error ratio recordings but no
alert.
"""

from generator.patterns.base import Alert, Pattern, Recording, Runbook, needs_signals
from generator.scenarios.cascade import has_enough_dependencies, scenarios
from generator.spec.models import PatternId, Signal

PATTERN = Pattern(
    id=PatternId.CASCADE,
    title="Cascade",
    needs=needs_signals(Signal.REQUESTS, Signal.ERRORS),
    recordings=(
        Recording("errors", "cascade/errors.promql.j2"),
        Recording("error_ratio", "cascade/error_ratio.promql.j2"),
        Recording("error_ratio_slope", "cascade/error_ratio_slope.promql.j2"),
    ),
    alerts=(
        Alert(
            "critical",
            "cascade/alert.promql.j2",
            "{{ $value | humanize }} direct dependencies of {service} have critical "
            "alerts while its errors or latency rise",
            when=has_enough_dependencies,
        ),
    ),
    runbook=Runbook(
        meaning="Failing dependencies pass their failure on: this service's errors or "
        "latency rise while several services it calls are in a critical state.",
        actions=(
            "Fix or fail over the dependency whose alerts started first; the others may "
            "only be carrying its failure.",
            "Open circuit breakers or serve degraded responses here, so the failure stops "
            "before it reaches this service's callers.",
        ),
    ),
    scenarios=scenarios,
    rule_files=("latency_ratio",),
)
