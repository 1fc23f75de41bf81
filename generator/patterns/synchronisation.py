"""Synchronisation: services fall into lockstep and hit shared resources together.

Plain correlation of request rates is near 1 in any healthy fan-out, because every service
follows the front door. The pairs are therefore correlated on differenced rates with the
entry traffic partialled out; above 0.7 the pair moves together beyond the shared driver.
"""

from __future__ import annotations

from typing import Any

from generator.naming import group_name
from generator.patterns.base import (
    Alert,
    Pattern,
    Rule,
    RuleGroup,
    Runbook,
    needs_signals,
)
from generator.plan import SystemPlan
from generator.rendering import render, service_context
from generator.scenarios.synchronisation import scenarios
from generator.spec.models import PatternId, Signal

PAIRS_PER_GROUP = 100


def system_groups(plan: SystemPlan, base: dict[str, Any]) -> list[RuleGroup]:
    """Rules that span services: per-service differenced rates, entry traffic, pairs, maxima."""
    if not plan.pairs:
        return []
    names = plan.names
    members = sorted(
        {name for pair in plan.pairs for name in pair} | set(plan.entry_services)
    )
    system = {"system": plan.name}

    delta_rules, entry_rules = [], []
    for name in members:
        context = service_context(plan, plan.service(name), base)
        labels = {**system, "service": name}
        delta_rules.append(_record(names.requests_delta, "delta", context, labels))
    entry_rule = _record(names.entry_delta, "entry_delta", base, system)
    for name in sorted({name for pair in plan.pairs for name in pair}):
        context = service_context(plan, plan.service(name), base)
        labels = {**system, "service": name}
        entry_rules.append(
            _record(names.entry_product, "entry_product", context, labels)
        )
        entry_rules.append(
            _record(names.entry_correlation, "entry_correlation", context, labels)
        )
    groups = [
        RuleGroup(
            group_name(plan.name, "synchronisation"),
            (*delta_rules, entry_rule, *entry_rules),
        )
    ]

    for chunk, start in enumerate(range(0, len(plan.pairs), PAIRS_PER_GROUP)):
        rules = []
        for a, b in plan.pairs[start : start + PAIRS_PER_GROUP]:
            context = {**base, "a": a, "b": b, "pair": _pair_selector(base, a, b)}
            labels = {**system, "service_a": a, "service_b": b}
            rules.append(_record(names.pair_product, "pair_product", context, labels))
            rules.append(
                _record(names.pair_correlation, "pair_correlation", context, labels)
            )
            rules.append(_record(names.pair_partial, "pair_partial", context, labels))
        groups.append(
            RuleGroup(
                group_name(plan.name, "synchronisation_pairs", chunk), tuple(rules)
            )
        )

    maximum = _record(names.max_partial, "max_partial", base, {})
    groups.append(RuleGroup(group_name(plan.name, "synchronisation_max"), (maximum,)))
    return groups


def _pair_selector(base: dict[str, Any], a: str, b: str):
    system_q = base["system_q"]

    def pair(series: str) -> str:
        return f'{series}{{system={system_q}, service_a="{a}", service_b="{b}"}}'

    return pair


def _record(
    series: str, template: str, context: dict[str, Any], labels: dict[str, str]
) -> Rule:
    expr = render(f"synchronisation/{template}.promql.j2", context)
    return Rule(record=series, alert=None, expr=expr, labels=labels)


PATTERN = Pattern(
    id=PatternId.SYNCHRONISATION,
    title="Synchronisation",
    needs=needs_signals(Signal.REQUESTS),
    recordings=(),
    alerts=(
        Alert(
            "warning",
            "synchronisation/alert.promql.j2",
            "{service} moves in lockstep with another service beyond their shared traffic "
            "(partial correlation {{ $value | humanize }})",
        ),
        Alert(
            "critical",
            "synchronisation/alert.promql.j2",
            "{service} is synchronised with another service "
            "(partial correlation {{ $value | humanize }})",
        ),
    ),
    runbook=Runbook(
        meaning="Two services change their traffic together beyond what the entry traffic explains.",
        actions=(
            "Add jitter to timers, cache expiries and retry backoff shared by these services.",
            "Find the common trigger: a cron job, a batch client or a synchronised cache flush.",
        ),
    ),
    scenarios=scenarios,
    system_groups=system_groups,
)
