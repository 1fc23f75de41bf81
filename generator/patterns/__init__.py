"""The pattern catalogue, in the order their rules are evaluated and written."""

from generator.patterns import (
    latency_ratio,
    phase_transition,
    retry_amplification,
    retry_storm,
    synchronisation,
)
from generator.patterns.base import Pattern

# The phase state reads the latency ratio, so latency_ratio comes first.
CATALOGUE: tuple[Pattern, ...] = (
    latency_ratio.PATTERN,
    phase_transition.PATTERN,
    retry_storm.PATTERN,
    retry_amplification.PATTERN,
    synchronisation.PATTERN,
)

__all__ = ["CATALOGUE", "Pattern"]
