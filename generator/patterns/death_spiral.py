"""Death spiral: placeholder until its rules are written; it generates nothing."""

from generator.patterns.base import Pattern, Runbook, needs_signals
from generator.spec.models import PatternId

PATTERN = Pattern(
    id=PatternId.DEATH_SPIRAL,
    title="Death spiral",
    needs=needs_signals(),
    recordings=(),
    alerts=(),
    runbook=Runbook(meaning="", actions=()),
    scenarios=lambda plan: [],
)
