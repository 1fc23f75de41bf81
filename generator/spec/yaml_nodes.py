"""YAML text to plain Python data, remembering where every key and value starts.

PyYAML's composer (libyaml's when available) builds the node tree; this module turns it into
dicts, lists and scalars and records each node's 1-based line and column by its path, so a
validation error found later can point at the exact spot in the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # PyYAML built without libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

Path_ = tuple[int | str, ...]

MAX_NODES = 2_000_000
"""Nodes a document may expand to, counting each alias use; stops alias bombs."""


def format_field_path(loc: Path_) -> str:
    """Format a location as services[2].depends_on[0]."""
    parts = (f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
    return "".join(parts).lstrip(".")


@dataclass(frozen=True)
class Position:
    line: int
    column: int


@dataclass
class Document:
    """Plain data from one YAML document, with the position of each value and key."""

    data: Any
    values: dict[Path_, Position] = field(default_factory=dict)
    keys: dict[Path_, Position] = field(default_factory=dict)

    def position(self, path: Path_, *, key: bool = False) -> Position:
        """Return where `path` starts, or the nearest enclosing node that exists."""
        table = self.keys if key else self.values
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            if prefix in table:
                return table[prefix]
            if prefix in self.values:
                return self.values[prefix]
        return Position(1, 1)


@dataclass
class Problem:
    """A value the YAML itself makes invalid, found before any model validates it."""

    path: Path_
    position: Position
    message: str
    hint: str = ""


class _Converter:
    def __init__(self) -> None:
        self.document = Document(data=None)
        self.problems: list[Problem] = []
        self.constructor = yaml.constructor.SafeConstructor()
        self.visited = 0

    def convert(self, node: yaml.Node, path: Path_) -> Any:
        self.visited += 1
        if self.visited > MAX_NODES:
            raise _TooLarge(path)
        self.document.values[path] = _position(node)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [
                self.convert(item, (*path, index))
                for index, item in enumerate(node.value)
            ]
        return self.constructor.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append(
                    Problem(path, _position(key_node), "a key must be a plain string")
                )
                continue
            key = self.constructor.construct_object(key_node)
            if not isinstance(key, str):
                key = str(key)
            if key in result:
                first = self.document.keys[(*path, key)]
                self.problems.append(
                    Problem(
                        (*path, key),
                        _position(key_node),
                        f"duplicate key {key!r}",
                        f"first defined at line {first.line}; keep one of them",
                    )
                )
                continue
            self.document.keys[(*path, key)] = _position(key_node)
            result[key] = self.convert(value_node, (*path, key))
        return result


class _TooLarge(Exception):
    def __init__(self, path: Path_) -> None:
        self.path = path


def _position(node: yaml.Node) -> Position:
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


def parse_document(text: str) -> tuple[Document, list[Problem]]:
    """Parse one YAML document into data with positions, and the problems found on the way.

    Raises yaml.YAMLError for text that is not YAML at all.
    """
    root = yaml.compose(text, Loader=_Loader)
    converter = _Converter()
    if root is None:
        return converter.document, converter.problems
    try:
        converter.document.data = converter.convert(root, ())
    except _TooLarge as exc:
        problem = Problem(
            exc.path,
            Position(1, 1),
            f"the document expands to more than {MAX_NODES:,} nodes",
            "remove the anchors and aliases that repeat large parts of the spec",
        )
        return Document(data=None), [problem]
    return converter.document, converter.problems
