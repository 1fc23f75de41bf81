"""Phase transition: near capacity, a little more load changes how the system behaves.

Past about 70 % of capacity, queueing delay grows steeply and latency ratios jump; the
design raises a warning above 60 % load and a critical alert above 65 % load together with
a p99/p50 ratio above 10, and records the time left until 70 % at the current slope.
"""

from generator.patterns.base import Alert, Pattern, Recording, Runbook
from generator.plan import ServicePlan
from generator.rendering import has_load
from generator.scenarios.phase_transition import scenarios
from generator.spec.models import PatternId


def _needs(service: ServicePlan) -> list[str]:
    if has_load(service):
        return []
    return ["capacity.requests_per_second with requests, or cpu_usage with a CPU limit"]


PATTERN = Pattern(
    id=PatternId.PHASE_TRANSITION,
    title="Phase transition",
    needs=_needs,
    recordings=(
        Recording("load", "phase_transition/load.promql.j2"),
        Recording("load_slope", "phase_transition/slope.promql.j2"),
        Recording(
            "time_to_transition", "phase_transition/time_to_transition.promql.j2"
        ),
        Recording("phase_state", "phase_transition/phase_state.promql.j2"),
    ),
    alerts=(
        Alert(
            "warning",
            "phase_transition/alert_warning.promql.j2",
            "{service} runs at {{ $value | humanizePercentage }} of its capacity",
            "humanizePercentage",
        ),
        Alert(
            "critical",
            "phase_transition/alert_critical.promql.j2",
            "{service} runs at {{ $value | humanizePercentage }} of its capacity "
            "with a detached latency tail",
            "humanizePercentage",
        ),
    ),
    runbook=Runbook(
        meaning="The service is close to the load where queueing makes latency explode.",
        actions=(
            "Scale out or shed low-priority traffic before the load reaches the transition level.",
            "Check the time to phase transition on the control dashboard for how long is left.",
        ),
    ),
    scenarios=scenarios,
    rule_files=("latency_ratio",),
)
