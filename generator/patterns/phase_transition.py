"""Phase transition: near capacity, a little more load changes how the system behaves.

Past about 70 % of capacity, queueing delay grows steeply and latency ratios jump; the
design raises a warning above 60 % load and a critical alert above 65 % load together with
a p99/p50 ratio above 10, and records the time left until 70 % at the current slope.
"""

from generator.patterns.base import Alert, Blocker, Pattern, Recording, Runbook
from generator.plan import ServicePlan
from generator.rendering import has_load
from generator.scenarios.phase_transition import records_latency_ratio, scenarios
from generator.spec.models import PatternId, Signal


def _needs(service: ServicePlan) -> list[str]:
    if has_load(service):
        return []
    return ["capacity.requests_per_second with requests, or cpu_usage with a CPU limit"]


def _critical_blockers(service: ServicePlan) -> tuple[Blocker, ...]:
    """Return the reasons the critical alert can never fire for the service. The warning
    alert reads the load alone, so it still fires."""
    blockers = []
    reads_ratio = (
        "it reads the p99/p50 latency ratio, which only pattern latency_ratio records"
    )
    state = "so the phase state never reaches CRITICAL (2) either"
    if not records_latency_ratio(service):
        if service.has(Signal.LATENCY):
            reason = f"{reads_ratio}, and that pattern is disabled for the service"
            fix = "remove latency_ratio from the service's disable list"
        else:
            reason = f"{reads_ratio}, from a latency signal the service lacks"
            fix = "set latency under the service's signals"
            if PatternId.LATENCY_RATIO in service.disabled:
                fix += " and remove latency_ratio from its disable list"
        blockers.append(Blocker(f"{reason}, {state}", fix))
    if not service.has(Signal.REQUESTS):
        blockers.append(
            Blocker(
                "it fires only while the request rate reaches min_request_rate.gate, "
                "and without a requests signal no request rate is recorded",
                "set requests under the service's signals",
            )
        )
    return tuple(blockers)


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
            blocked=_critical_blockers,
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
