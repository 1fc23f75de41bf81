"""Constant series that describe the system: its call edges and each service's patterns.

Prometheus has no record of the spec's graph. A dashboard that shows the dependencies,
dependants and runbooks of one chosen service therefore reads them from these series,
filtered by label like any other query. Each is an info series: 1 for every edge or pattern.
"""

from __future__ import annotations

from typing import Any

from generator import naming
from generator.patterns.base import Rule, RuleGroup, TestCase
from generator.plan import SystemPlan
from generator.promql import quote

PART = "topology"


def patterns_of(rule_files: dict[str, list[RuleGroup]]) -> dict[str, list[str]]:
    """Return each service's patterns, those with at least one alert, sorted."""
    found: dict[str, set[str]] = {}
    for groups in rule_files.values():
        for group in groups:
            for rule in group.rules:
                if rule.alert is not None:
                    service = rule.labels[naming.SERVICE]
                    found.setdefault(service, set()).add(rule.labels[naming.PATTERN])
    return {service: sorted(patterns) for service, patterns in found.items()}


def rule_groups(
    plan: SystemPlan, rule_files: dict[str, list[RuleGroup]]
) -> list[RuleGroup]:
    """Return the group of info series, or none for a spec with no edge and no alert."""
    rules = [
        Rule(naming.DEPENDENCY_INFO, None, "vector(1)", labels)
        for labels in _edge_labels(plan)
    ]
    rules += [
        Rule(naming.PATTERN_INFO, None, "vector(1)", labels)
        for labels in _pattern_labels(plan, rule_files)
    ]
    if not rules:
        return []
    return [RuleGroup(naming.group_name(plan.name, PART), tuple(rules))]


def scenarios(
    plan: SystemPlan, rule_files: dict[str, list[RuleGroup]]
) -> list[TestCase]:
    """Return one case that expects exactly the spec's edges and patterns."""
    checks = [
        _exact(plan, naming.DEPENDENCY_INFO, _edge_labels(plan)),
        _exact(plan, naming.PATTERN_INFO, _pattern_labels(plan, rule_files)),
    ]
    return [
        TestCase(
            name="topology: one series per call edge and per pattern with alerts",
            input_series=[],
            alert_rule_test=[],
            promql_expr_test=checks,
            duration_seconds=0,
        )
    ]


def _edge_labels(plan: SystemPlan) -> list[dict[str, str]]:
    return [
        {
            naming.SYSTEM: plan.name,
            naming.SERVICE: service.name,
            naming.DEPENDENCY: dependency,
        }
        for service in sorted(plan.services, key=lambda s: s.name)
        for dependency in sorted(service.depends_on)
    ]


def _pattern_labels(
    plan: SystemPlan, rule_files: dict[str, list[RuleGroup]]
) -> list[dict[str, str]]:
    return [
        {naming.SYSTEM: plan.name, naming.SERVICE: service, naming.PATTERN: pattern}
        for service, patterns in sorted(patterns_of(rule_files).items())
        for pattern in patterns
    ]


def _exact(
    plan: SystemPlan, series: str, labels: list[dict[str, str]]
) -> dict[str, Any]:
    return {
        "expr": f"{series}{{{naming.SYSTEM}={quote(plan.name)}}}",
        "eval_time": "0s",
        "exp_samples": [
            {"labels": _series_text(series, item), "value": 1} for item in labels
        ],
    }


def _series_text(series: str, labels: dict[str, str]) -> str:
    inner = ", ".join(f"{key}={quote(value)}" for key, value in sorted(labels.items()))
    return f"{series}{{{inner}}}"
