"""The pattern catalogue, in the order their rules are evaluated and written."""

from generator.patterns import (
    cascade,
    death_spiral,
    latency_ratio,
    metastable,
    phase_transition,
    retry_amplification,
    retry_storm,
    signal_missing,
    synchronisation,
    thundering_herd,
)
from generator.patterns.base import Pattern

# The phase state reads the latency ratio, so latency_ratio comes first; cascade reads the
# ALERTS series of the patterns before it.
CATALOGUE: tuple[Pattern, ...] = (
    latency_ratio.PATTERN,
    phase_transition.PATTERN,
    retry_storm.PATTERN,
    retry_amplification.PATTERN,
    synchronisation.PATTERN,
    death_spiral.PATTERN,
    thundering_herd.PATTERN,
    metastable.PATTERN,
    cascade.PATTERN,
    signal_missing.PATTERN,
)

__all__ = ["CATALOGUE", "Pattern"]
