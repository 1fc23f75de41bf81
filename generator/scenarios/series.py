"""Synthetic input series for promtool tests, shaped to match a service's selectors."""

from __future__ import annotations

import re
import re._parser as sre_parse  # the standard library's own regex parser
import warnings
from collections.abc import Sequence

from generator.promql import Selector, number, quote

SAMPLE = "app"


class UnmatchableSelector(ValueError):
    """No label set could be built that the selector matches."""


def example_labels(selector: Selector) -> dict[str, str]:
    """Return a label set, metric name included, that the selector matches."""
    labels: dict[str, str] = {"__name__": selector.metric}
    by_label: dict[str, list] = {}
    for matcher in selector.matchers:
        by_label.setdefault(matcher.label, []).append(matcher)
    for label, matchers in by_label.items():
        value = _value_for(matchers)
        if value:
            labels[label] = value
    return labels


def _value_for(matchers: list) -> str:
    candidates = [m.value for m in matchers if m.op == "="]
    candidates += [_regex_example(m.value) for m in matchers if m.op == "=~"]
    candidates += [SAMPLE, "x", ""]
    for candidate in candidates:
        if candidate is not None and all(_matches(m, candidate) for m in matchers):
            return candidate
    shown = ", ".join(f"{m.label}{m.op}{quote(m.value)}" for m in matchers)
    raise UnmatchableSelector(f"no test value satisfies {shown}")


def _matches(matcher, value: str) -> bool:
    if matcher.op == "=":
        return value == matcher.value
    if matcher.op == "!=":
        return value != matcher.value
    full = re.fullmatch(matcher.value, value, flags=re.DOTALL) is not None
    return full if matcher.op == "=~" else not full


def _regex_example(pattern: str) -> str | None:
    """Build one string the regex matches in full, or None for constructs not handled."""
    try:
        with warnings.catch_warnings():
            # Python warns about POSIX classes such as [[:alpha:]], which RE2 accepts.
            warnings.simplefilter("ignore", FutureWarning)
            return _emit(sre_parse.parse(pattern))
    except (re.error, _Unsupported, RecursionError):
        return None


class _Unsupported(Exception):
    pass


def _emit(parsed) -> str:
    out = []
    for op, argument in parsed:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(argument))
        elif name == "ANY":
            out.append("x")
        elif name == "NOT_LITERAL":
            out.append("x" if chr(argument) != "x" else "y")
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, _, sub = argument
            out.append(_emit(sub) * max(low, 0))
        elif name == "SUBPATTERN":
            out.append(_emit(argument[-1]))
        elif name == "BRANCH":
            out.append(_emit(argument[1][0]))
        elif name == "IN":
            out.append(_class_member(argument))
        elif name == "AT":
            continue
        else:
            raise _Unsupported(name)
    return "".join(out)


def _class_member(items) -> str:
    negated = any(str(op) == "NEGATE" for op, _ in items)
    allowed: list[str] = []
    excluded: set[str] = set()
    for op, argument in items:
        name = str(op)
        if name == "LITERAL":
            (excluded.add if negated else allowed.append)(chr(argument))
        elif name == "RANGE":
            chars = [chr(c) for c in range(argument[0], argument[1] + 1)]
            if negated:
                excluded.update(chars)
            else:
                allowed.extend(chars)
        elif name == "CATEGORY" and not negated:
            allowed.append("0" if "DIGIT" in str(argument) else "a")
        elif name != "NEGATE":
            raise _Unsupported(name)
    if negated:
        return next(
            c for c in "abcdefghijklmnopqrstuvwxyz0123456789" if c not in excluded
        )
    if not allowed:
        raise _Unsupported("empty class")
    return allowed[0]


def series_text(labels: dict[str, str]) -> str:
    """Write a label set as promtool's series notation: name{a="1",b="2"}."""
    name = labels.get("__name__", "")
    rest = ",".join(
        f"{k}={quote(v)}" for k, v in sorted(labels.items()) if k != "__name__"
    )
    return f"{name}{{{rest}}}"


def values_text(values: Sequence[float]) -> str:
    """Write sample values in promtool's expanding notation, merging equal steps.

    A run 'a+bxn' stands for a, a+b, ..., a+n*b; promtool adds b repeatedly, as the
    values here were built, so both sides hold the same floats.
    """
    tokens = []
    index = 0
    while index < len(values):
        start = values[index]
        if index + 1 == len(values):
            tokens.append(number(start))
            break
        step = values[index + 1] - start
        end = index + 1
        running = start + step
        while (
            end + 1 < len(values)
            and values[end + 1] - values[end] == step
            and running + step == values[end + 1]
        ):
            running += step
            end += 1
        count = end - index
        if count == 1:
            tokens.append(number(start))
            index += 1
            continue
        tokens.append(f"{number(start)}{_signed(step)}x{count}")
        index = end + 1
    return " ".join(tokens)


def _signed(step: float) -> str:
    return f"+{number(step)}" if step >= 0 else f"-{number(-step)}"
