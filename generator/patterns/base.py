"""The shapes every pattern module fills in: recordings, alerts, runbook and scenarios."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from generator.plan import ServicePlan, SystemPlan
from generator.spec.models import PatternId, Signal


@dataclass(frozen=True)
class Recording:
    """A recording rule per service: the series name (a `Names` attribute) and its template."""

    series: str
    template: str
    when: Callable[[ServicePlan], bool] = lambda service: True


@dataclass(frozen=True)
class Blocker:
    """A reason an alert can never fire for a service, and the fix in the spec."""

    reason: str
    fix: str


@dataclass(frozen=True)
class Alert:
    """An alert per service that `when` accepts. `summary` may use {service} and
    Prometheus' {{ $value }}.

    `blocked` returns, for a service that gets the alert, why it can never fire there
    (such as a series it reads that no rule records for the service); empty when it can.
    The alert is written either way, and the generator warns.
    """

    severity: str
    template: str
    summary: str
    value_format: str = "humanize"
    when: Callable[[ServicePlan], bool] = lambda service: True
    blocked: Callable[[ServicePlan], tuple[Blocker, ...]] = lambda service: ()


@dataclass(frozen=True)
class Runbook:
    meaning: str
    actions: tuple[str, ...]


@dataclass(frozen=True)
class Rule:
    """One rendered rule, recording or alerting, ready to serialise."""

    record: str | None
    alert: str | None
    expr: str
    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)
    for_seconds: int = 0
    keep_firing_for_seconds: int = 0


@dataclass(frozen=True)
class RuleGroup:
    name: str
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class TestCase:
    """One promtool test: input series, and the alerts and values expected at given times."""

    name: str
    input_series: list[dict[str, Any]]
    alert_rule_test: list[dict[str, Any]]
    promql_expr_test: list[dict[str, Any]]
    duration_seconds: int


@dataclass(frozen=True)
class Pattern:
    """An emergence pattern: what it records per service, when it alerts, how it is tested.

    `needs` returns the signals a service lacks for this pattern (empty when it has them
    all). `system_groups` adds rules that span services (pairs, paths), and `ordered` puts
    every service's recordings in one group in callers-first order, for rules that read
    their callers' results in the same evaluation.
    """

    id: PatternId
    title: str
    needs: Callable[[ServicePlan], list[str]]
    recordings: tuple[Recording, ...]
    alerts: tuple[Alert, ...]
    runbook: Runbook
    scenarios: Callable[[SystemPlan], list[TestCase]]
    ordered: bool = False
    system_groups: Callable[[SystemPlan, Any], list[RuleGroup]] | None = None
    rule_files: tuple[str, ...] = ()  # other rule files its tests load, besides its own


def needs_signals(*signals: Signal) -> Callable[[ServicePlan], list[str]]:
    """Return a `needs` function for patterns that need every one of `signals`."""

    def missing(service: ServicePlan) -> list[str]:
        return [signal.value for signal in signals if signal not in service.selectors]

    return missing
