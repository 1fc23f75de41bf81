"""Signal missing: a configured signal has no series, so its panels and rules stay empty.

A warning fires for each signal of a service (every selector it resolves) once Prometheus
has had no sample of it for one rate window (5m by default), as after a misspelt metric
name or a dead exporter.
"""

from __future__ import annotations

from typing import Any

from generator import naming
from generator.durations import format_duration
from generator.patterns.base import Pattern, Rule, RuleGroup, Runbook, needs_signals
from generator.plan import ServicePlan, SystemPlan
from generator.rendering import render, service_context
from generator.scenarios.signal_missing import scenarios
from generator.spec.models import PatternId, Signal

SERVICES_PER_GROUP = 50
SEVERITY = "warning"
SUMMARY = "{service} has no {signal} series in the last {window}: {selector}"


def watched(service: ServicePlan) -> list[Signal]:
    """Return the signals whose absence the service's alerts report.

    A database maximum is left out where the spec gives max_connections, because the
    rules fall back to that number when the series is missing.
    """
    return [
        signal
        for signal in service.selectors
        if not (signal is Signal.DB_CONNECTIONS_MAX and service.max_connections)
    ]


def covered_services(plan: SystemPlan) -> list[ServicePlan]:
    """Return the services with at least one signal whose pattern is not disabled."""
    return [
        service
        for service in plan.services
        if PatternId.SIGNAL_MISSING not in service.disabled and watched(service)
    ]


def system_groups(plan: SystemPlan, base: dict[str, Any]) -> list[RuleGroup]:
    """Build one alert per service and signal, 50 services to a group."""
    services = covered_services(plan)
    groups = []
    for chunk, start in enumerate(range(0, len(services), SERVICES_PER_GROUP)):
        rules = []
        for service in services[start : start + SERVICES_PER_GROUP]:
            context = service_context(plan, service, base)
            for signal in watched(service):
                rules.append(_alert(plan, service, signal.value, context))
        groups.append(
            RuleGroup(
                naming.group_name(plan.name, PatternId.SIGNAL_MISSING.value, chunk),
                tuple(rules),
            )
        )
    return groups


def _alert(
    plan: SystemPlan, service: ServicePlan, signal: str, context: dict[str, Any]
) -> Rule:
    timing = service.alerts[PatternId.SIGNAL_MISSING]
    return Rule(
        record=None,
        alert=naming.alert_name(PatternId.SIGNAL_MISSING.value, SEVERITY),
        expr=render("signal_missing/alert.promql.j2", {**context, "signal": signal}),
        labels={
            naming.SYSTEM: plan.name,
            naming.SERVICE: service.name,
            naming.TEAM: service.team,
            naming.PATTERN: PatternId.SIGNAL_MISSING.value,
            naming.SEVERITY: SEVERITY,
            naming.SIGNAL: signal,
        },
        annotations={
            "summary": _escape_template(summary(plan, service, signal)),
            "description": PATTERN.runbook.meaning,
            "runbook_url": runbook_url(plan, service),
        },
        for_seconds=timing.for_seconds,
        keep_firing_for_seconds=timing.keep_firing_for_seconds,
    )


def summary(plan: SystemPlan, service: ServicePlan, signal: str) -> str:
    """Return the summary as Prometheus renders it. It has no value, which is always 1."""
    return SUMMARY.format(
        service=service.name,
        signal=signal,
        window=format_duration(plan.spec.windows.rate),
        selector=service.selectors[signal].render(),
    )


def runbook_url(plan: SystemPlan, service: ServicePlan) -> str:
    base_url = plan.spec.runbook_base_url.rstrip("/")
    return f"{base_url}/{PatternId.SIGNAL_MISSING.value}#{service.name}"


def _escape_template(text: str) -> str:
    """Keep '{{' of a selector's label value from opening a Go template action."""
    return text.replace("{{", '{{ "{{" }}')


PATTERN = Pattern(
    id=PatternId.SIGNAL_MISSING,
    title="Signal missing",
    needs=needs_signals(),
    recordings=(),
    alerts=(),
    runbook=Runbook(
        meaning="Prometheus has no series for a signal this service is configured to have, "
        "so its panels and every rule that reads it stay empty.",
        actions=(
            "Query the selector in the summary and compare its metric name and labels with "
            "what the exporter or sidecar exposes on its /metrics page.",
            "Check that the exporter is up and scraped (its `up` series); if the service "
            "really lacks the signal, set its selector under signals or disable signal_missing.",
        ),
    ),
    scenarios=scenarios,
    system_groups=system_groups,
)
