"""Spec files to validated `Spec` models, or every error of every file at once."""

from __future__ import annotations

import logging
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from generator.errors import SpecError, SpecErrors
from generator.spec.checks import Finding, check_references, check_spec, reference_view
from generator.spec.models import Spec
from generator.spec.yaml_nodes import (
    Document,
    Path_,
    Position,
    format_field_path,
    parse_document,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedSpec:
    """A validated spec and the file it came from."""

    path: Path
    spec: Spec
    warnings: tuple[str, ...] = field(default=())
    name_position: Position = Position(1, 1)


def load_specs(paths: Iterable[Path]) -> list[LoadedSpec]:
    """Load and validate every file, raising SpecErrors with all problems of all files."""
    loaded, errors = [], []
    # The same file named twice (specs/*.yaml plus one of them) is loaded once.
    for path in _unique(paths):
        try:
            loaded.append(load_spec(path))
        except SpecErrors as exc:
            errors.extend(exc.errors)
    errors.extend(_check_unique_names(loaded))
    if errors:
        raise SpecErrors(errors)
    return loaded


def _unique(paths: Iterable[Path]) -> list[Path]:
    seen: dict[Path, Path] = {}
    for path in paths:
        seen.setdefault(path.resolve(), path)
    return list(seen.values())


def load_spec(path: Path) -> LoadedSpec:
    """Load one spec file, raising SpecErrors that locate each invalid value."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecErrors(
            [SpecError(path, 1, 1, "", f"cannot read the file: {exc}")]
        ) from exc
    lines = text.splitlines()
    try:
        document, problems = parse_document(text)
    except yaml.YAMLError as exc:
        raise SpecErrors([_yaml_error(path, lines, exc)]) from exc

    # Problems in the YAML itself (duplicate keys) are reported together with the model's
    # errors; the first of two duplicate keys is the one validated.
    errors = [
        SpecError(
            path,
            problem.position.line,
            problem.position.column,
            format_field_path(problem.path),
            problem.message,
            _excerpt(lines, problem.position.line),
            problem.hint,
        )
        for problem in problems
    ]
    if document.data is None and not errors:
        errors.append(
            SpecError(
                path,
                1,
                1,
                "",
                "the file is empty",
                hint="start from specs/minimal.yaml",
            )
        )
    if document.data is not None and not isinstance(document.data, dict):
        errors.append(
            SpecError(path, 1, 1, "", "the spec must be a mapping of keys to values")
        )
    if not isinstance(document.data, dict):
        raise SpecErrors(errors)

    try:
        spec = Spec.model_validate(document.data)
    except ValidationError as exc:
        errors += [
            _from_pydantic(path, lines, document, error) for error in exc.errors()
        ]
        errors += _reference_errors(path, lines, document)
        raise SpecErrors(errors) from exc
    errors += _reference_errors(path, lines, document)
    findings, warnings = check_spec(spec)
    errors += [_from_finding(path, lines, document, f) for f in findings]
    if errors:
        raise SpecErrors(errors)
    messages = tuple(str(_from_finding(path, lines, document, w)) for w in warnings)
    for message in messages:
        log.warning("%s", message)
    return LoadedSpec(
        path=path,
        spec=spec,
        warnings=messages,
        name_position=document.position(("name",)),
    )


def _reference_errors(
    path: Path, lines: list[str], document: Document
) -> list[SpecError]:
    findings = check_references(reference_view(document.data))
    return [_from_finding(path, lines, document, finding) for finding in findings]


def _check_unique_names(loaded: list[LoadedSpec]) -> list[SpecError]:
    seen: dict[str, Path] = {}
    errors = []
    for item in loaded:
        name = item.spec.name
        if name in seen:
            errors.append(
                SpecError(
                    item.path,
                    item.name_position.line,
                    item.name_position.column,
                    "name",
                    f"spec name {name!r} is also used by {seen[name]}",
                    hint="each spec writes out/<name>/, so names must differ",
                )
            )
        seen.setdefault(name, item.path)
    return errors


def _yaml_error(path: Path, lines: list[str], exc: yaml.YAMLError) -> SpecError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = getattr(exc, "problem", None) or str(exc)
    # The problem mark of an unclosed bracket or quote is the end of the file; the
    # context mark is where the unclosed construct starts, which is what needs fixing.
    context = getattr(exc, "context", None)
    context_mark = getattr(exc, "context_mark", None)
    hint = ""
    if (
        context
        and context_mark is not None
        and (context_mark.line, context_mark.column) != (mark.line, mark.column)
    ):
        hint = (
            f"{context} that starts at line {context_mark.line + 1}, "
            f"column {context_mark.column + 1}"
        )
    return SpecError(
        path,
        line,
        column,
        "",
        f"invalid YAML: {problem}",
        _excerpt(lines, line),
        hint,
    )


def _from_pydantic(
    path: Path, lines: list[str], document: Document, error: Any
) -> SpecError:
    loc: Path_ = tuple(part for part in error["loc"] if part != "[key]")
    kind = error["type"]
    if kind == "extra_forbidden":
        key = loc[-1]
        valid = _field_names(loc[:-1])
        hint = f"valid keys here: {', '.join(valid)}" if valid else ""
        return _located(
            path, lines, document, loc, f"unknown key {key!r}", hint, key=True
        )
    if kind == "missing":
        parent = loc[:-1]
        return _located(
            path,
            lines,
            document,
            parent,
            f"missing required key {loc[-1]!r}",
            "",
            key=False,
            field_path=loc,
        )
    message = str(error["msg"]).removeprefix("Value error, ")
    if "[key]" in error["loc"]:
        message = f"invalid key {error['input']!r}: {message}"
        return _located(path, lines, document, loc, message, "", key=True)
    if kind not in {"value_error", "string_pattern_mismatch"} or "input" in error:
        shown = _short(error.get("input"))
        if shown not in message:
            message = f"{message}, got {shown}"
    return _located(path, lines, document, loc, message, "", key=False)


def _from_finding(
    path: Path, lines: list[str], document: Document, finding: Finding
) -> SpecError:
    where = finding.path
    if finding.fallback and where not in document.values:
        where = finding.fallback
    return _located(
        path,
        lines,
        document,
        where,
        finding.message,
        finding.hint,
        key=finding.at_key,
        field_path=finding.path,
    )


def _located(
    path: Path,
    lines: list[str],
    document: Document,
    loc: Path_,
    message: str,
    hint: str,
    *,
    key: bool,
    field_path: Path_ | None = None,
) -> SpecError:
    position = document.position(loc, key=key)
    return SpecError(
        path=path,
        line=position.line,
        column=position.column,
        field=format_field_path(field_path if field_path is not None else loc),
        problem=message,
        excerpt=_excerpt(lines, position.line),
        hint=hint,
    )


def _excerpt(lines: list[str], line: int) -> str:
    if 1 <= line <= len(lines):
        return lines[line - 1].rstrip()[:160]
    return ""


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _field_names(loc: Path_) -> list[str]:
    """Return the keys the model at `loc` accepts, by walking Spec's annotations."""
    model: Any = Spec
    for part in loc:
        model = _unwrap(model)
        if isinstance(part, int):
            args = typing.get_args(model)
            model = args[0] if args else None
        elif isinstance(model, type) and issubclass(model, BaseModel):
            model = next(
                (
                    f.annotation
                    for name, f in model.model_fields.items()
                    if (f.alias or name) == part
                ),
                None,
            )
        elif typing.get_origin(model) is dict:
            model = typing.get_args(model)[1]
        else:
            return []
    model = _unwrap(model)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [field.alias or name for name, field in model.model_fields.items()]
    return []


def _unwrap(annotation: Any) -> Any:
    """Strip Optional and Annotated wrappers from a type annotation."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if origin in (typing.Union, __import__("types").UnionType) and len(args) == 1:
            annotation = args[0]
            continue
        return annotation
