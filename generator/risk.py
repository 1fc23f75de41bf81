"""Pattern likelihood, risk score and health state: recorded series only, no alerts.

Likelihood (n.likelihood{pattern}) is 0-100 % per pattern and service. Each indicator x has
a healthy level b (its "baseline" threshold row) and a critical level c. It scores
100 * clamp((x - b) / (c - b), 0, 1), which is 0 at or below b, 100 at or above c and
linear between. A pattern with two indicators takes the larger score.

The indicators are the load ratio for phase_transition (load.baseline 0.50 to
load.critical 0.65), the p99/p50 ratio for latency_ratio, the path amplification for
retry_amplification, the maximum partial correlation for synchronisation, the share of
time in GC for death_spiral and the cache miss spike for thundering_herd. retry_storm has
two, the retry ratio and the retry growth. As in the retry storm alert, growth counts only
while the short-window retry ratio is above retry_ratio.floor. A likelihood is recorded
only for services where the pattern's rules are generated. It has no sample while its
indicator has none, or where c equals b.

Risk (n.risk) is 0-100 per service, the sum of these points, capped at 100:
40 when load.transition - load < 0.05 (also past the transition), else 20 when < 0.10;
30 when the retry growth is above retry_growth.warning (while the short retry ratio is
above retry_ratio.floor); 25 when the maximum partial correlation is above
synchronisation.warning; 35 while any emergence alert of the service other than
signal_missing is firing. A missing indicator scores 0, so every service has a risk.
Health (n.health) is 0 HEALTHY below risk.warning (30), 1 WARNING from it, 2 CRITICAL from
risk.critical (60). System risk and health (n.system_risk, n.system_health) add, per rule,
the highest points any service of the system scores and compare with the lowest
risk.warning and risk.critical among its services.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from generator import naming
from generator.patterns import CATALOGUE
from generator.patterns.base import Rule, RuleGroup
from generator.plan import ServicePlan, SystemPlan
from generator.promql import number, quote
from generator.rendering import render, service_context
from generator.spec.models import PatternId

PART = "risk"
SERVICES_PER_GROUP = 50


@dataclass(frozen=True)
class Indicator:
    """A recorded series (a `Names` attribute) and the threshold signal that scales it.

    With `gate` (series, signal, level), the indicator counts only while that series is
    above that threshold.
    """

    series: str
    signal: str
    gate: tuple[str, str, str] | None = None


RETRY_FLOOR_GATE = ("retry_ratio_short", "retry_ratio", "floor")

INDICATORS: dict[PatternId, tuple[Indicator, ...]] = {
    PatternId.PHASE_TRANSITION: (Indicator("load", "load"),),
    PatternId.LATENCY_RATIO: (Indicator("latency_ratio", "latency_ratio"),),
    PatternId.RETRY_STORM: (
        Indicator("retry_ratio", "retry_ratio"),
        Indicator("retry_growth", "retry_growth", RETRY_FLOOR_GATE),
    ),
    PatternId.RETRY_AMPLIFICATION: (
        Indicator("path_amplification", "retry_amplification"),
    ),
    PatternId.SYNCHRONISATION: (Indicator("max_partial", "synchronisation"),),
    PatternId.DEATH_SPIRAL: (Indicator("gc_time", "gc_time"),),
    PatternId.THUNDERING_HERD: (Indicator("cache_miss_spike", "cache_miss_spike"),),
}
"""Likelihood indicators per pattern. Likelihood levels run from baseline to critical."""


@dataclass(frozen=True)
class RiskRules:
    """Points and margins of the risk score. The margins are distances below the load
    transition level, so they are load fractions, not threshold rows."""

    load_near_margin: float = 0.05
    load_near: int = 40
    load_close_margin: float = 0.10
    load_close: int = 20
    retry_growth: int = 30
    synchronisation: int = 25
    alert: int = 35
    cap: int = 100


RISK = RiskRules()
RISK_TERMS = {
    "load": PatternId.PHASE_TRANSITION,
    "growth": PatternId.RETRY_STORM,
    "sync": PatternId.SYNCHRONISATION,
}
"""The pattern whose rules record each risk term's indicator. The firing alert term reads
ALERTS and needs none."""
EXCLUDED_ALERT_PATTERNS = (PatternId.SIGNAL_MISSING.value,)
"""Patterns whose firing alerts add no risk, because a missing signal is no sign of load."""
ALERT_NAMES = "Emergence.+"


def likelihood_coverage(
    plan: SystemPlan, generated: Collection[str]
) -> dict[PatternId, list[ServicePlan]]:
    """Return, per pattern with indicators, the services whose rules record them.

    `generated` contains the rule file parts already built, so a pattern that produced no
    rules for this system gets no likelihood.
    """
    coverage: dict[PatternId, list[ServicePlan]] = {}
    for pattern in CATALOGUE:
        if pattern.id not in INDICATORS or pattern.id.value not in generated:
            continue
        services = [
            service
            for service in plan.services
            if pattern.id not in service.disabled
            and not pattern.needs(service)
            and (
                pattern.id is not PatternId.SYNCHRONISATION
                or service.name in plan.paired
            )
        ]
        if services:
            coverage[pattern.id] = services
    return coverage


def rule_groups(
    plan: SystemPlan, base: dict[str, Any], generated: Collection[str]
) -> list[RuleGroup]:
    """Build per-service likelihood, risk and health, 50 services to a group, then the
    system's risk and health."""
    coverage = {
        pattern: {service.name for service in services}
        for pattern, services in likelihood_coverage(plan, generated).items()
    }
    context = risk_context(plan, base)
    context["terms"] = {
        term: bool(coverage.get(pattern)) for term, pattern in RISK_TERMS.items()
    }
    groups = []
    services = list(plan.services)
    for chunk, start in enumerate(range(0, len(services), SERVICES_PER_GROUP)):
        rules = []
        for service in services[start : start + SERVICES_PER_GROUP]:
            rules.extend(_service_rules(plan, service, context, coverage))
        groups.append(
            RuleGroup(naming.group_name(plan.name, PART, chunk), tuple(rules))
        )
    system = {naming.SYSTEM: plan.name}
    groups.append(
        RuleGroup(
            naming.group_name(plan.name, f"{PART}_system"),
            (
                Rule(
                    plan.names.system_risk,
                    None,
                    render("risk/system_risk.promql.j2", context),
                    system,
                ),
                Rule(
                    plan.names.system_health,
                    None,
                    render("risk/system_health.promql.j2", context),
                    system,
                ),
            ),
        )
    )
    return groups


def risk_context(plan: SystemPlan, base: dict[str, Any]) -> dict[str, Any]:
    """Extend the system context with the risk points and system-wide selectors."""
    system_q = base["system_q"]

    def sys_threshold(signal: str, level: str) -> str:
        return (
            f"{naming.THRESHOLD}{{system={system_q}, signal={quote(signal)}, "
            f"level={quote(level)}}}"
        )

    return {
        **base,
        "sys_threshold": sys_threshold,
        "risk": RISK,
        "num": number,
        "firing_alerts": firing_alerts(plan),
    }


def firing_alerts(plan: SystemPlan, service: ServicePlan | None = None) -> str:
    """Return the selector of the firing emergence alerts that add risk."""
    matchers = [
        'alertstate="firing"',
        f"alertname=~{quote(ALERT_NAMES)}",
        f"{naming.PATTERN}!~{quote('|'.join(EXCLUDED_ALERT_PATTERNS))}",
        f"{naming.SYSTEM}={quote(plan.name)}",
    ]
    if service is not None:
        matchers.append(f"{naming.SERVICE}={quote(service.name)}")
    return "ALERTS{" + ", ".join(matchers) + "}"


def _service_rules(
    plan: SystemPlan,
    service: ServicePlan,
    context: dict[str, Any],
    coverage: dict[PatternId, set[str]],
) -> list[Rule]:
    own = {
        **service_context(plan, service, context),
        "firing_alerts": firing_alerts(plan, service),
        "terms": {
            term: service.name in coverage.get(pattern, set())
            for term, pattern in RISK_TERMS.items()
        },
    }
    labels = {naming.SYSTEM: plan.name, naming.SERVICE: service.name}
    rules = []
    for pattern, names in coverage.items():
        if service.name not in names:
            continue
        expr = render(
            "risk/likelihood.promql.j2",
            {**own, "indicators": INDICATORS[pattern]},
        )
        rules.append(
            Rule(
                plan.names.likelihood,
                None,
                expr,
                {**labels, naming.PATTERN: pattern.value},
            )
        )
    rules.append(
        Rule(plan.names.risk, None, render("risk/risk.promql.j2", own), labels)
    )
    rules.append(
        Rule(plan.names.health, None, render("risk/health.promql.j2", own), labels)
    )
    return rules
