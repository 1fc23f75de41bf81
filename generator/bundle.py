"""The pattern catalogue expanded over one system: every rule group and test, in memory."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from generator import naming, risk, topology
from generator.patterns import CATALOGUE
from generator.patterns.base import Alert, Blocker, Pattern, Rule, RuleGroup, TestCase
from generator.plan import ServicePlan, SystemPlan, list_services, plan_system
from generator.promql import number
from generator.rendering import render, service_context, system_context
from generator.scenarios.cascade import has_enough_dependencies
from generator.scenarios.cases import ScenarioError
from generator.scenarios.risk import scenarios as risk_scenarios
from generator.scenarios.series import UnmatchableSelector
from generator.spec.loader import LoadedSpec
from generator.spec.models import PatternId, Signal

log = logging.getLogger(__name__)

SERVICES_PER_GROUP = 50
"""Services whose per-service rules share one group, so group size stays bounded."""

THRESHOLDS_PART = "thresholds"
TRAFFIC_PART = "traffic"


@dataclass
class Bundle:
    """Everything generated for one spec, before any target serialises it."""

    plan: SystemPlan
    rule_files: dict[str, list[RuleGroup]] = field(default_factory=dict)
    tests: dict[str, list[TestCase]] = field(default_factory=dict)
    test_rule_files: dict[str, list[str]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.plan.name


def build_bundles(loaded: list[LoadedSpec]) -> list[Bundle]:
    """Expand each loaded spec into its bundle."""
    return [build_bundle(plan_system(item)) for item in loaded]


def build_bundle(plan: SystemPlan) -> Bundle:
    """Expand the catalogue over a planned system."""
    bundle = Bundle(plan=plan)
    base = system_context(plan)
    bundle.rule_files[THRESHOLDS_PART] = _threshold_groups(plan)
    bundle.rule_files[TRAFFIC_PART] = _traffic_groups(plan, base)
    # Services that get a critical alert that can fire from a pattern before cascade in
    # the catalogue. The cascade alert counts these ALERTS at a service's dependencies.
    critical: set[str] = set()
    for pattern in CATALOGUE:
        services = _services_for(plan, pattern)
        blocked = _warn_blocked_alerts(plan, pattern, services)
        if pattern.id is PatternId.CASCADE:
            _warn_cascade_blocked(plan, services, critical)
        else:
            critical.update(_critical_services(plan, pattern, services, blocked))
        groups = _pattern_groups(plan, pattern, services, base)
        if not groups:
            continue
        bundle.rule_files[pattern.id.value] = groups
        tests = _scenarios(plan, pattern.id.value, lambda p=pattern: p.scenarios(plan))
        if tests:
            bundle.tests[pattern.id.value] = tests
            bundle.test_rule_files[pattern.id.value] = [
                THRESHOLDS_PART,
                TRAFFIC_PART,
                *[part for part in pattern.rule_files if part in bundle.rule_files],
                pattern.id.value,
            ]
    # The risk tests feed the recorded indicators and ALERTS as input series, so they
    # load no rules that would record those series too.
    generated = set(bundle.rule_files)
    bundle.rule_files[risk.PART] = risk.rule_groups(plan, base, generated)
    coverage = risk.likelihood_coverage(plan, generated)
    risk_tests = _scenarios(plan, risk.PART, lambda: risk_scenarios(plan, coverage))
    if risk_tests:
        bundle.tests[risk.PART] = risk_tests
        bundle.test_rule_files[risk.PART] = [THRESHOLDS_PART, risk.PART]
    patterns = dict(bundle.rule_files)
    topology_groups = topology.rule_groups(plan, patterns)
    if topology_groups:
        bundle.rule_files[topology.PART] = topology_groups
        bundle.tests[topology.PART] = topology.scenarios(plan, patterns)
        bundle.test_rule_files[topology.PART] = [topology.PART]
    return bundle


# Exceptions a scenario raises when the spec's settings leave it no traffic that shows its
# case. Examples: levels too close together for distinct histogram buckets, or a regex
# matcher that no example label value satisfies.
SCENARIO_FAILURES = (
    ScenarioError,
    UnmatchableSelector,
    ValueError,
    OverflowError,
    re.error,
)


def _scenarios(
    plan: SystemPlan, part: str, build: Callable[[], list[TestCase]]
) -> list[TestCase]:
    """Build a part's generated tests, or warn and return none when the spec's settings
    leave its scenarios no valid traffic; the rules are written either way."""
    try:
        return build()
    except SCENARIO_FAILURES as exc:
        message = (
            f"{plan.path}: no generated tests for {part}: {exc}; "
            "its rules are written but not tested"
        )
        log.warning("%s", message)
        plan.warnings.append(message)
        return []


def _services_for(plan: SystemPlan, pattern: Pattern) -> list[ServicePlan]:
    """Return the services the pattern covers, warning once per missing signal set."""
    chosen = []
    lacking: dict[str, list[ServicePlan]] = {}
    for service in plan.services:
        if pattern.id in service.disabled:
            continue
        missing = pattern.needs(service)
        if missing:
            lacking.setdefault(", ".join(missing), []).append(service)
            continue
        chosen.append(service)
    # plan.services is in callers-first order, but the messages follow the spec's order.
    for services in lacking.values():
        services.sort(key=lambda s: s.index)
    for missing, services in sorted(lacking.items(), key=lambda item: item[1][0].index):
        message = (
            f"{plan.path}: pattern {pattern.id.value} left out for "
            f"{list_services(services)}: no source for {missing}; set it under the "
            "service's signals, or add the pattern to its disable list"
        )
        log.warning("%s", message)
        plan.warnings.append(message)
    return chosen


def _warn_blocked_alerts(
    plan: SystemPlan, pattern: Pattern, services: list[ServicePlan]
) -> set[tuple[str, str]]:
    """Warn once per alert and set of reasons where an alert the pattern writes can
    never fire. Return the (service, severity) of each such alert."""
    blocked: set[tuple[str, str]] = set()
    grouped: dict[tuple[str, tuple[Blocker, ...]], list[ServicePlan]] = {}
    for service in services:
        for alert in pattern.alerts:
            if not _writes_alert(plan, pattern, alert, service):
                continue
            blockers = alert.blocked(service)
            if blockers:
                blocked.add((service.name, alert.severity))
                grouped.setdefault((alert.severity, blockers), []).append(service)
    for (severity, blockers), members in sorted(
        grouped.items(), key=lambda item: min(s.index for s in item[1])
    ):
        reasons = "; ".join(blocker.reason for blocker in blockers)
        fixes = ", and ".join(blocker.fix for blocker in blockers)
        message = (
            f"{plan.path}: alert {naming.alert_name(pattern.id.value, severity)} can "
            f"never fire for {list_services(members)}: {reasons}; to fix, {fixes}"
        )
        log.warning("%s", message)
        plan.warnings.append(message)
    return blocked


def _critical_services(
    plan: SystemPlan,
    pattern: Pattern,
    services: list[ServicePlan],
    blocked: set[tuple[str, str]],
) -> set[str]:
    """Return the services that get a critical alert of the pattern that can fire."""
    return {
        service.name
        for service in services
        for alert in pattern.alerts
        if alert.severity == "critical"
        and (service.name, alert.severity) not in blocked
        and _writes_alert(plan, pattern, alert, service)
    }


def _warn_cascade_blocked(
    plan: SystemPlan, services: list[ServicePlan], critical: set[str]
) -> None:
    """Warn where the cascade alert is written but fewer direct dependencies than its
    level have a critical alert that can fire, so the alert can never fire."""
    level = "dependencies"
    members = [
        service
        for service in services
        if has_enough_dependencies(service)
        and len(critical.intersection(service.depends_on))
        < service.threshold(PatternId.CASCADE.value, level)
    ]
    if not members:
        return
    message = (
        f"{plan.path}: alert {naming.alert_name(PatternId.CASCADE.value, 'critical')} "
        f"can never fire for {list_services(members)}: it needs a critical alert "
        f"firing at thresholds.cascade.{level} of the service's direct dependencies, "
        "and fewer of them have a critical alert that can fire, because the patterns "
        "with one are disabled for them, left out for missing signals or blocked; to "
        "fix, give those dependencies the signals of a pattern with a critical alert, "
        f"or lower thresholds.cascade.{level} for the service"
    )
    log.warning("%s", message)
    plan.warnings.append(message)


def _chunks(services: list[ServicePlan]) -> list[list[ServicePlan]]:
    return [
        services[i : i + SERVICES_PER_GROUP]
        for i in range(0, len(services), SERVICES_PER_GROUP)
    ]


def _threshold_groups(plan: SystemPlan) -> list[RuleGroup]:
    groups = []
    for chunk, services in enumerate(_chunks(list(plan.services))):
        rules = []
        for service in services:
            for signal, levels in service.thresholds.items():
                for level, value in levels.items():
                    labels = {
                        naming.SYSTEM: plan.name,
                        naming.SERVICE: service.name,
                        naming.SIGNAL: signal,
                        naming.LEVEL: level,
                    }
                    rules.append(
                        Rule(naming.THRESHOLD, None, f"vector({number(value)})", labels)
                    )
        groups.append(
            RuleGroup(
                naming.group_name(plan.name, THRESHOLDS_PART, chunk), tuple(rules)
            )
        )
    return groups


def _traffic_groups(plan: SystemPlan, base: dict[str, Any]) -> list[RuleGroup]:
    groups = []
    for chunk, services in enumerate(_chunks(list(plan.services))):
        rules = []
        for service in services:
            context = service_context(plan, service, base)
            labels = _labels(plan, service)
            if service.has(Signal.REQUESTS):
                expr = render("shared/requests.promql.j2", context)
                rules.append(Rule(plan.names.requests, None, expr, labels))
            if service.has(Signal.RETRIES):
                expr = render("shared/retries.promql.j2", context)
                rules.append(Rule(plan.names.retries, None, expr, labels))
        if rules:
            groups.append(
                RuleGroup(
                    naming.group_name(plan.name, TRAFFIC_PART, chunk), tuple(rules)
                )
            )
    return groups


def _pattern_groups(
    plan: SystemPlan,
    pattern: Pattern,
    services: list[ServicePlan],
    base: dict[str, Any],
) -> list[RuleGroup]:
    part = pattern.id.value
    groups: list[RuleGroup] = []
    if pattern.ordered and pattern.recordings and services:
        rules = [
            rule
            for service in services
            for rule in _recordings(plan, pattern, service, base)
        ]
        groups.append(
            RuleGroup(naming.group_name(plan.name, f"{part}_paths"), tuple(rules))
        )
    if pattern.system_groups is not None:
        groups.extend(pattern.system_groups(plan, base))
    if not services:
        return groups
    for chunk, members in enumerate(_chunks(services)):
        rules = []
        for service in members:
            if not pattern.ordered:
                rules.extend(_recordings(plan, pattern, service, base))
            rules.extend(_alerts(plan, pattern, service, base))
        if rules:
            groups.append(
                RuleGroup(naming.group_name(plan.name, part, chunk), tuple(rules))
            )
    return groups


def _recordings(
    plan: SystemPlan, pattern: Pattern, service: ServicePlan, base: dict[str, Any]
) -> list[Rule]:
    context = service_context(plan, service, base)
    labels = _labels(plan, service)
    rules = []
    for recording in pattern.recordings:
        if recording.when(service):
            expr = render(recording.template, context)
            rules.append(
                Rule(getattr(plan.names, recording.series), None, expr, labels)
            )
    return rules


def _writes_alert(
    plan: SystemPlan, pattern: Pattern, alert: Alert, service: ServicePlan
) -> bool:
    """Return whether the alert is written for a service the pattern covers."""
    if pattern.id is PatternId.SYNCHRONISATION and service.name not in plan.paired:
        return False
    return alert.when(service)


def _alerts(
    plan: SystemPlan, pattern: Pattern, service: ServicePlan, base: dict[str, Any]
) -> list[Rule]:
    timing = service.alerts[pattern.id]
    rules = []
    for alert in pattern.alerts:
        if not _writes_alert(plan, pattern, alert, service):
            continue
        context = {**service_context(plan, service, base), "severity": alert.severity}
        rules.append(
            Rule(
                record=None,
                alert=naming.alert_name(pattern.id.value, alert.severity),
                expr=render(alert.template, context),
                labels={
                    **_labels(plan, service),
                    naming.TEAM: service.team,
                    naming.PATTERN: pattern.id.value,
                    naming.SEVERITY: alert.severity,
                },
                annotations=_annotations(plan, pattern, alert, service),
                for_seconds=timing.for_seconds,
                keep_firing_for_seconds=timing.keep_firing_for_seconds,
            )
        )
    return rules


def _annotations(
    plan: SystemPlan, pattern: Pattern, alert: Alert, service: ServicePlan
) -> dict[str, str]:
    base_url = plan.spec.runbook_base_url.rstrip("/")
    return {
        "summary": alert.summary.replace("{service}", service.name),
        "description": pattern.runbook.meaning,
        "runbook_url": f"{base_url}/{pattern.id.value}#{service.name}",
    }


def _labels(plan: SystemPlan, service: ServicePlan) -> dict[str, str]:
    return {naming.SYSTEM: plan.name, naming.SERVICE: service.name}
