"""Assembly of promtool test cases: expected alerts at the modelled times, value checks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from generator import naming
from generator.durations import format_duration, parse_duration
from generator.patterns.base import TestCase
from generator.plan import ServicePlan, SystemPlan
from generator.promql import number, quote
from generator.scenarios import model
from generator.spec.models import PatternId

TOLERANCE = 1e-6
"""Relative tolerance of value checks: promtool 2.42 compares floats exactly."""


class ScenarioError(RuntimeError):
    """A generated scenario does not show what it was built to show."""


def subject(
    plan: SystemPlan, pattern: PatternId, accept: Callable[[ServicePlan], bool]
) -> ServicePlan | None:
    """Return the first service, callers first, that the pattern covers and `accept` likes."""
    for service in plan.services:
        if pattern not in service.disabled and accept(service):
            return service
    return None


def alert_labels(
    plan: SystemPlan, service: ServicePlan, pattern: PatternId, severity: str
) -> dict[str, str]:
    return {
        naming.SYSTEM: plan.name,
        naming.SERVICE: service.name,
        naming.TEAM: service.team,
        naming.PATTERN: pattern.value,
        naming.SEVERITY: severity,
    }


def alert_checks(
    plan: SystemPlan,
    service: ServicePlan,
    pattern: PatternId,
    severity: str,
    condition: Sequence[bool],
    timeline: model.Timeline,
    expect_firing: bool,
    values: Sequence[float | None] | None = None,
) -> list[dict[str, Any]]:
    """Return alert_rule_test entries around every change of the modelled alert state.

    Each change is checked on both sides: silent one step before the alert fires and
    firing at that step, firing one step before it resolves and silent at that step.
    Where it never fires, the check points spread over the whole test.
    """
    timing = service.alerts[pattern]
    step = timeline.step_seconds
    states = model.firing(
        condition, timing.for_seconds // step, timing.keep_firing_for_seconds // step
    )
    if any(states) != expect_firing:
        verb = "fire" if expect_firing else "stay silent"
        raise ScenarioError(
            f"{pattern.value} {severity} scenario for {service.name} does not {verb}"
        )
    name = naming.alert_name(pattern.value, severity)
    checks = []
    changes = [i for i in range(1, len(states)) if states[i] != states[i - 1]]
    points = sorted({i for change in changes for i in (change - 1, change)})
    if not changes:
        last = len(states) - 1
        points = sorted({last // 3, 2 * last // 3, last})
    for index in points:
        expected = []
        if states[index]:
            value = (
                values[_last_active(condition, index)] if values is not None else None
            )
            expected = [
                {
                    "exp_labels": alert_labels(plan, service, pattern, severity),
                    "exp_annotations": annotations(
                        plan, service, pattern, severity, value
                    ),
                }
            ]
        checks.append(
            {
                "eval_time": format_duration(timeline.seconds(index)),
                "alertname": name,
                "exp_alerts": expected,
            }
        )
    return checks


def silent_alert_checks(
    plan: SystemPlan,
    service: ServicePlan,
    pattern: PatternId,
    timeline: model.Timeline,
    severities: Sequence[str] = ("warning", "critical"),
) -> list[dict[str, Any]]:
    """Return alert_rule_test entries that no alert of these severities fires at any of
    the spread check points, for cases where the condition never holds."""
    never = [False] * timeline.steps
    checks = []
    for severity in severities:
        checks += alert_checks(plan, service, pattern, severity, never, timeline, False)
    return checks


def _last_active(condition: Sequence[bool], index: int) -> int:
    """Return the last step at or before `index` where the condition held.

    While an alert keeps firing after its condition cleared, Prometheus keeps the value
    of the last evaluation that returned a sample.
    """
    while index > 0 and not condition[index]:
        index -= 1
    return index


def annotations(
    plan: SystemPlan,
    service: ServicePlan,
    pattern: PatternId,
    severity: str,
    value: float | None,
) -> dict[str, str]:
    """Return the annotations Prometheus renders for this alert at `value`."""
    from generator.patterns import CATALOGUE  # the catalogue imports the scenarios

    definition = next(p for p in CATALOGUE if p.id == pattern)
    alert = next(a for a in definition.alerts if a.severity == severity)
    summary = alert.summary.replace("{service}", service.name)
    if value is None:
        raise ScenarioError(
            f"no modelled value for the {pattern.value} {severity} summary"
        )
    summary = summary.replace(
        "{{ $value | humanizePercentage }}", humanize_percentage(value)
    ).replace("{{ $value | humanize }}", humanize(value))
    base_url = plan.spec.runbook_base_url.rstrip("/")
    return {
        "description": definition.runbook.meaning,
        "runbook_url": f"{base_url}/{pattern.value}#{service.name}",
        "summary": summary,
    }


def _go_g(value: float) -> str:
    """Format like Go's %.4g, which Prometheus' humanize functions use."""
    text = f"{value:.4g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        sign = exponent[0]
        digits = exponent[1:].lstrip("0").rjust(2, "0")
        text = f"{mantissa}e{sign}{digits}"
    return text


def humanize(value: float) -> str:
    """Emulate Prometheus' humanize: SI prefixes, four significant digits."""
    if value == 0 or abs(value) >= 1:
        prefixes = ["", "k", "M", "G", "T", "P", "E", "Z", "Y"]
        index = 0
        while abs(value) >= 1000 and index < len(prefixes) - 1:
            value /= 1000
            index += 1
        return _go_g(value) + prefixes[index]
    prefixes = ["", "m", "u", "n", "p", "f", "a", "z", "y"]
    index = 0
    while abs(value) < 1 and index < len(prefixes) - 1:
        value *= 1000
        index += 1
    return _go_g(value) + prefixes[index]


def humanize_percentage(value: float) -> str:
    """Emulate Prometheus' humanizePercentage."""
    return _go_g(value * 100) + "%"


def value_check(
    plan: SystemPlan,
    service: ServicePlan,
    series: str,
    expected: float,
    at_seconds: int,
) -> dict[str, Any]:
    """Return a promql_expr_test that the recorded value is within TOLERANCE of `expected`."""
    selector = f"{series}{{system={quote(plan.name)}, service={quote(service.name)}}}"
    bound = TOLERANCE * max(1.0, abs(expected))
    return {
        "expr": f"abs({selector} - {number(expected)}) < bool {number(bound)}",
        "eval_time": format_duration(at_seconds),
        "exp_samples": [{"labels": _labels_text(plan.name, service.name), "value": 1}],
    }


def absent_check(
    plan: SystemPlan, service: ServicePlan, series: str, at_seconds: int
) -> dict[str, Any]:
    """Return a promql_expr_test that the service has no sample of `series`."""
    selector = f"{series}{{system={quote(plan.name)}, service={quote(service.name)}}}"
    return {
        "expr": selector,
        "eval_time": format_duration(at_seconds),
        "exp_samples": [],
    }


def no_nan_checks(
    plan: SystemPlan, names: Sequence[str], at_seconds: int
) -> list[dict[str, Any]]:
    """Return checks that no series of these names contains NaN or an infinity in the system."""
    checks = []
    for series in names:
        selector = f"{series}{{system={quote(plan.name)}}}"
        checks.append(
            {
                "expr": f"{selector} != {selector} or abs({selector}) > 1.7e308",
                "eval_time": format_duration(at_seconds),
                "exp_samples": [],
            }
        )
    return checks


def _labels_text(system: str, service: str) -> str:
    return f"{{service={quote(service)}, system={quote(system)}}}"


def case(
    name: str,
    series: list[dict[str, Any]],
    alerts: list[dict[str, Any]],
    values: list[dict[str, Any]],
    timeline: model.Timeline,
) -> TestCase:
    return TestCase(
        name=name,
        input_series=series,
        alert_rule_test=alerts,
        promql_expr_test=values,
        duration_seconds=timeline.seconds(timeline.steps - 1),
    )


def add_silent_checks(
    checks: list[dict[str, Any]],
    plan: SystemPlan,
    service: ServicePlan,
    pattern: PatternId,
    severity: str,
    timeline: model.Timeline,
    start_seconds: int,
    end_seconds: int,
) -> list[dict[str, Any]]:
    """Return `checks` with entries that expect no alert from start to end, by time.

    A firing alert stays firing for at least keep_firing_for after its condition clears,
    so one check per keep_firing_for (every step when it is 0) finds any firing between
    start and end. alert_checks checks a silent test at only three points.
    """
    step = timeline.step_seconds
    keep = service.alerts[pattern].keep_firing_for_seconds
    spacing = max(step, keep // step * step)
    name = naming.alert_name(pattern.value, severity)
    taken = {check["eval_time"] for check in checks if check["alertname"] == name}
    added = [
        {"eval_time": format_duration(seconds), "alertname": name, "exp_alerts": []}
        for seconds in range(start_seconds, end_seconds + 1, spacing)
        if format_duration(seconds) not in taken
    ]
    return sorted(checks + added, key=lambda check: parse_duration(check["eval_time"]))
