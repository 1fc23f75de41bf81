"""Generated promtool tests of signal_missing: present, disappearing and never-seen series.

Every test feeds one example series per selector of every covered service, because the
alert rule of any signal left without input would fire and promtool compares the full list
of alerts at each check. The expected alerts come from a model of absent_over_time() in Prometheus
2.42: over a window of w seconds at time t it returns 1 when no sample lies in [t - w, t],
a range closed at both ends. The 5m lookback of instant selectors does not apply to range
selectors, so the alert's condition is first true at the first evaluation more than one
rate window after the last sample.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from generator import naming
from generator.durations import format_duration
from generator.patterns.base import TestCase
from generator.plan import ServicePlan, SystemPlan
from generator.promql import Selector
from generator.scenarios import model
from generator.scenarios.cases import ScenarioError, case
from generator.scenarios.series import example_labels, series_text
from generator.spec.models import PatternId

PATTERN = PatternId.SIGNAL_MISSING
SEVERITY = "warning"
PRESENT_SECONDS = 600
"""Time every series has samples before one of them stops."""


@dataclass(frozen=True)
class Watched:
    """One alert rule: a service's signal and the selector whose series it watches."""

    service: ServicePlan
    signal: str
    selector: Selector


@dataclass(frozen=True)
class Input:
    """One input series and whether it has a sample at each evaluation step."""

    labels: dict[str, str]
    present: tuple[bool, ...]

    @property
    def text(self) -> str:
        return series_text(self.labels)


def watched_signals(plan: SystemPlan) -> list[Watched]:
    """Return every (service, signal) the rules watch, in rule order."""
    # The pattern module imports this one for its scenarios.
    from generator.patterns.signal_missing import covered_services, watched

    return [
        Watched(service, signal.value, service.selectors[signal])
        for service in covered_services(plan)
        for signal in watched(service)
    ]


def scenarios(plan: SystemPlan) -> list[TestCase]:
    watched = watched_signals(plan)
    if not watched:
        return []
    inputs = _own_inputs(watched)
    cases = [_all_present(plan, inputs)]
    stopped = next((item for item in watched if _alone(item, watched, inputs)), None)
    if stopped is None:
        return cases
    cases.append(_stops_and_returns(plan, inputs, stopped))
    other = next(
        (
            item
            for item in watched
            if item.service.name == stopped.service.name
            and item.signal != stopped.signal
        ),
        None,
    )
    if other is not None:
        cases.append(_never_present(plan, inputs, stopped, other))
    return cases


def _own_inputs(watched: list[Watched]) -> dict[str, dict[str, str]]:
    """Return one example series per selector, by series text, without duplicates.

    Each selector matches its own example, so no alert fires while every example has
    samples. The cases rely on that and remove one example at a time.
    """
    inputs: dict[str, dict[str, str]] = {}
    for item in watched:
        labels = example_labels(item.selector)
        if not matches(item.selector, labels):
            raise ScenarioError(
                f"the example series {series_text(labels)} does not match the "
                f"{item.signal} selector of {item.service.name}"
            )
        inputs.setdefault(series_text(labels), labels)
    return inputs


def _alone(
    item: Watched, watched: list[Watched], inputs: dict[str, dict[str, str]]
) -> bool:
    """Return whether removing the item's example series leaves only the item without input.

    It does not where another example also matches the item's selector (as the errors
    series matches the requests selector of the Istio profile), or where the example
    matches another signal's selector too (two services sharing one exporter series).
    """
    target = _example_text(item)
    if any(
        matches(item.selector, labels)
        for text, labels in inputs.items()
        if text != target
    ):
        return False
    example = inputs[target]
    return not any(
        matches(other.selector, example)
        for other in watched
        if _key(other) != _key(item)
    )


def _example_text(item: Watched) -> str:
    return series_text(example_labels(item.selector))


def _key(item: Watched) -> tuple[str, str]:
    return (item.service.name, item.signal)


def matches(selector: Selector, labels: dict[str, str]) -> bool:
    """Return whether the selector matches a series with these labels, as Prometheus does."""
    if labels.get("__name__") != selector.metric:
        return False
    for matcher in selector.matchers:
        value = labels.get(matcher.label, "")
        if matcher.op in ("=", "!="):
            equal = value == matcher.value
            if equal != (matcher.op == "="):
                return False
            continue
        full = re.fullmatch(matcher.value, value, flags=re.DOTALL) is not None
        if full != (matcher.op == "=~"):
            return False
    return True


def _all_present(plan: SystemPlan, inputs: dict[str, dict[str, str]]) -> TestCase:
    steps = (2 * plan.spec.windows.rate) // plan.spec.evaluation_interval + 1
    series = [Input(labels, (True,) * steps) for labels in inputs.values()]
    name = "every signal has a series: no signal_missing alert"
    return _case(plan, series, None, name)


def _stops_and_returns(
    plan: SystemPlan, inputs: dict[str, dict[str, str]], stopped: Watched
) -> TestCase:
    """Build the case of a series that stops after PRESENT_SECONDS and later returns."""
    step = plan.spec.evaluation_interval
    timing = stopped.service.alerts[PATTERN]
    gap = plan.spec.windows.rate + timing.for_seconds + 300
    tail = timing.keep_firing_for_seconds + 300
    steps = (PRESENT_SECONDS + gap + tail) // step + 1
    stop = PRESENT_SECONDS // step + 1
    back = (PRESENT_SECONDS + gap) // step
    target = _example_text(stopped)
    series = [
        Input(
            labels,
            tuple(not (text == target and stop <= i < back) for i in range(steps)),
        )
        for text, labels in inputs.items()
    ]
    name = (
        f"{stopped.signal} of {stopped.service.name} stops for {format_duration(gap)} and "
        "returns: only its alert fires, once a rate window holds no sample"
    )
    return _case(plan, series, stopped, name)


def _never_present(
    plan: SystemPlan,
    inputs: dict[str, dict[str, str]],
    missing: Watched,
    present: Watched,
) -> TestCase:
    """Build the case of a signal that never has a series, as with a misspelt metric name,
    while the other signals of its service have theirs."""
    steps = (2 * plan.spec.windows.rate) // plan.spec.evaluation_interval + 1
    target = _example_text(missing)
    series = [
        Input(labels, (True,) * steps)
        for text, labels in inputs.items()
        if text != target
    ]
    name = (
        f"{missing.signal} of {missing.service.name} never has a series while "
        f"{present.signal} has: only {missing.signal} fires"
    )
    return _case(plan, series, missing, name)


def absent_condition(
    selector: Selector, inputs: list[Input], window_steps: int, steps: int
) -> list[bool]:
    """Return, per step, whether absent_over_time(selector[window]) returns a sample."""
    chosen = [item.present for item in inputs if matches(selector, item.labels)]
    return [
        not any(
            present[j]
            for present in chosen
            for j in range(max(0, index - window_steps), index + 1)
        )
        for index in range(steps)
    ]


def _case(
    plan: SystemPlan,
    inputs: list[Input],
    subject: Watched | None,
    name: str,
) -> TestCase:
    """Build a case that checks the subject's modelled alert. Every other signal keeps its
    own example series throughout, so its alert stays silent."""
    step = plan.spec.evaluation_interval
    timeline = model.Timeline(step, len(inputs[0].present))
    states: list[bool] = [False] * timeline.steps
    if subject is not None:
        timing = subject.service.alerts[PATTERN]
        own = [item for item in inputs if matches(subject.selector, item.labels)]
        condition = absent_condition(
            subject.selector, own, plan.spec.windows.rate // step, timeline.steps
        )
        states = model.firing(
            condition,
            timing.for_seconds // step,
            timing.keep_firing_for_seconds // step,
        )
        if not any(states):
            raise ScenarioError(f"{name}: the model does not fire")
    checks = _alert_checks(plan, subject, states, timeline)
    series = [
        {"series": item.text, "values": presence_values(item.present)}
        for item in inputs
    ]
    return case(name, series, checks, [], timeline)


def _alert_checks(
    plan: SystemPlan,
    subject: Watched | None,
    states: list[bool],
    timeline: model.Timeline,
) -> list[dict[str, Any]]:
    """Check the full alert list on both sides of every change of the subject's state."""
    changes = [i for i in range(1, len(states)) if states[i] != states[i - 1]]
    points = sorted({i for change in changes for i in (change - 1, change)})
    if not changes:
        last = timeline.steps - 1
        points = sorted({last // 3, 2 * last // 3, last})
    name = naming.alert_name(PATTERN.value, SEVERITY)
    checks = []
    for index in points:
        expected = []
        if subject is not None and states[index]:
            expected.append(expected_alert(plan, subject))
        checks.append(
            {
                "eval_time": format_duration(timeline.seconds(index)),
                "alertname": name,
                "exp_alerts": expected,
            }
        )
    return checks


def expected_alert(plan: SystemPlan, item: Watched) -> dict[str, Any]:
    """Return the labels and annotations promtool must see on the item's alert."""
    # The pattern module imports this one for its scenarios.
    from generator.patterns.signal_missing import PATTERN as DEFINITION
    from generator.patterns.signal_missing import runbook_url, summary

    return {
        "exp_labels": {
            naming.SYSTEM: plan.name,
            naming.SERVICE: item.service.name,
            naming.TEAM: item.service.team,
            naming.PATTERN: PATTERN.value,
            naming.SEVERITY: SEVERITY,
            naming.SIGNAL: item.signal,
        },
        "exp_annotations": {
            "description": DEFINITION.runbook.meaning,
            "runbook_url": runbook_url(plan, item.service),
            "summary": summary(plan, item.service, item.signal),
        },
    }


def presence_values(present: tuple[bool, ...]) -> str:
    """Write a counter equal to its step index, with '_' where a step has no sample."""
    tokens = []
    index = 0
    while index < len(present):
        end = index
        while end + 1 < len(present) and present[end + 1] == present[index]:
            end += 1
        count = end - index
        if present[index]:
            tokens.append(f"{index}+1x{count}" if count else str(index))
        else:
            tokens.append(f"_x{count + 1}" if count else "_")
        index = end + 1
    return " ".join(tokens)
