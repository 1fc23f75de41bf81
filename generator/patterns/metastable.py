"""Metastable: placeholder until its rules are written; it generates nothing."""

from generator.patterns.base import Pattern, Runbook, needs_signals
from generator.spec.models import PatternId

PATTERN = Pattern(
    id=PatternId.METASTABLE,
    title="Metastable",
    needs=needs_signals(),
    recordings=(),
    alerts=(),
    runbook=Runbook(meaning="", actions=()),
    scenarios=lambda plan: [],
)
