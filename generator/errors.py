"""Errors the generator reports to its users, and the exit code of each.

GeneratorError                 exit_code 1 unless a subclass sets another
 +-- SpecErrors                every invalid value found in one run, with positions
 +-- CheckFailed               out/ is stale, or promtool rejected the generated files
 +-- ForeignOutputEntries      the output folder contains entries that are not its output
 +-- ToolMissing               promtool or amtool is not installed (exit 3)
 +-- ToolFailed                the tool crashed or printed something unreadable (exit 3)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_TOOL = 3


class GeneratorError(Exception):
    """A failure the command line reports without a traceback."""

    exit_code = EXIT_INVALID


@dataclass(eq=False)
class SpecError:
    """One invalid value in a spec file, located by the YAML loader."""

    path: Path
    line: int
    column: int
    field: str
    problem: str
    excerpt: str = ""
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}:{self.column}"
        lines = [f"{where}: {self.field or '(top level)'}: {self.problem}"]
        if self.excerpt:
            lines.append(f"  {self.line:>4} | {self.excerpt}")
            lines.append("       | " + " " * max(self.column - 1, 0) + "^")
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    @property
    def sort_key(self) -> tuple[str, int, int, str]:
        return (str(self.path), self.line, self.column, self.field)


@dataclass(eq=False)
class SpecErrors(GeneratorError):
    """Every invalid value found in the given spec files, sorted by file and line."""

    errors: list[SpecError] = field(default_factory=list)

    def __str__(self) -> str:
        files = sorted({str(error.path) for error in self.errors})
        count = len(self.errors)
        noun = "invalid value" if count == 1 else "invalid values"
        head = f"{count} {noun} in {', '.join(files)}, nothing written"
        body = "\n".join(str(error) for error in sorted(self.errors, key=_sort_key))
        return f"{head}\n{body}"


def _sort_key(error: SpecError) -> tuple[str, int, int, str]:
    return error.sort_key


class CheckFailed(GeneratorError):
    """The committed output differs from a fresh generation, or a tool rejected it."""


class ForeignOutputEntries(GeneratorError):
    """The output folder contains entries that are not emergence-ops output, so replacing
    it whole would delete them."""


class ToolMissing(GeneratorError):
    """A required external tool is not on PATH."""

    exit_code = EXIT_TOOL


class ToolFailed(GeneratorError):
    """An external tool could not run to completion."""

    exit_code = EXIT_TOOL
