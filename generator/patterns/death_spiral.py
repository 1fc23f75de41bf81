"""Death spiral: garbage collection takes the CPU that would free memory, so latency climbs.

It is a warning when the worst instance spends more than 20 % of its time in GC while the
p99/p50 latency ratio rises, and critical above 50 %.
"""

from generator.patterns.base import Alert, Pattern, Recording, Runbook, needs_signals
from generator.plan import ServicePlan
from generator.scenarios.death_spiral import scenarios
from generator.spec.models import PatternId, Signal


def _needs(service: ServicePlan) -> list[str]:
    missing = needs_signals(Signal.GC_TIME, Signal.LATENCY)(service)
    if service.has(Signal.LATENCY) and PatternId.LATENCY_RATIO in service.disabled:
        missing.append("the latency ratio slope (pattern latency_ratio is disabled)")
    return missing


PATTERN = Pattern(
    id=PatternId.DEATH_SPIRAL,
    title="Death spiral",
    needs=_needs,
    recordings=(Recording("gc_time", "death_spiral/gc_time.promql.j2"),),
    alerts=(
        Alert(
            "warning",
            "death_spiral/alert.promql.j2",
            "the worst instance of {service} spends {{ $value | humanizePercentage }} "
            "of its time in garbage collection while its latency ratio climbs",
            "humanizePercentage",
        ),
        Alert(
            "critical",
            "death_spiral/alert.promql.j2",
            "the worst instance of {service} spends {{ $value | humanizePercentage }} "
            "of its time in garbage collection while its latency ratio climbs: "
            "it is close to a standstill",
            "humanizePercentage",
        ),
    ),
    runbook=Runbook(
        meaning="Garbage collection takes the CPU that request handling needs, so requests "
        "queue, hold their memory longer and cause more collection.",
        actions=(
            "Restart or drain the worst instance to break the loop; shed load if several are affected.",
            "Raise the memory limit or heap size, then look for the allocation growth that started it.",
        ),
    ),
    scenarios=scenarios,
    rule_files=("latency_ratio",),
)
