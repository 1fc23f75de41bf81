"""PromQL text: quoting values, building selectors, parsing user selectors."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

import promql_parser

METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


def quote(value: str) -> str:
    """Quote a label value as a PromQL string literal.

    PromQL strings follow Go's escapes, which json.dumps' output is a subset of.
    """
    return json.dumps(value, ensure_ascii=False)


def number(value: float) -> str:
    """Write a number the way PromQL reads it back unchanged."""
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str  # one of =, !=, =~, !~
    value: str

    def render(self) -> str:
        return f"{self.label}{self.op}{quote(self.value)}"


@dataclass(frozen=True)
class Selector:
    """A vector selector: a metric name and label matchers."""

    metric: str
    matchers: tuple[Matcher, ...] = ()

    def render(self) -> str:
        inner = ",".join(matcher.render() for matcher in self.matchers)
        return f"{self.metric}{{{inner}}}" if inner else self.metric

    def with_matchers(self, extra: Mapping[str, str]) -> Selector:
        added = tuple(
            Matcher(label, "=", value) for label, value in sorted(extra.items())
        )
        return Selector(self.metric, self.matchers + added)


_OPS = {
    "MatchOp.Equal": "=",
    "MatchOp.NotEqual": "!=",
    "MatchOp.Re": "=~",
    "MatchOp.NotRe": "!~",
}


def parse_selector(text: str) -> Selector:
    """Parse a user's vector selector such as `http_requests_total{job="api"}`.

    Raises ValueError when the text is not PromQL or is more than a plain vector selector
    (a range, an offset, a function), since the rules add windows and aggregations themselves.
    """
    try:
        node = promql_parser.parse(text)
    except ValueError as exc:
        raise ValueError(f"invalid PromQL selector {text!r}: {exc}") from exc
    if not isinstance(node, promql_parser.VectorSelector) or node.offset or node.at:
        raise ValueError(
            f"{text!r} is not a plain vector selector: write a metric name with label "
            'matchers, such as http_requests_total{job="api"}, without range, offset or function'
        )
    matchers = []
    metric = node.name or ""
    for matcher in node.matchers.matchers:
        if matcher.name == "__name__" and str(matcher.op) == "MatchOp.Equal":
            metric = matcher.value
            continue
        matchers.append(Matcher(matcher.name, _OPS[str(matcher.op)], matcher.value))
    if not metric:
        raise ValueError(
            f"{text!r} names no metric: start the selector with a metric name"
        )
    return Selector(metric, tuple(matchers))
