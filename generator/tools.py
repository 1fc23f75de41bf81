"""promtool by subprocess: find it, print its version, check and test generated files."""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from generator.errors import CheckFailed, ToolFailed, ToolMissing

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "install it with: apt-get update && apt-get install --no-install-recommends prometheus "
    "(Debian and Ubuntu), or put the promtool of a Prometheus release on PATH"
)
TIMEOUT_SECONDS = 600


def find_promtool() -> str:
    """Return the path of promtool, or raise ToolMissing with how to install it."""
    path = shutil.which("promtool")
    if path is None:
        raise ToolMissing(f"promtool not found on PATH; {INSTALL_HINT}")
    return path


def promtool_version() -> str:
    """Return promtool's one-line version, e.g. 'promtool, version 2.42.0+ds (...)'."""
    output = _run([find_promtool(), "--version"], cwd=None)
    return (
        output.stdout.splitlines()[0]
        if output.stdout
        else output.stderr.splitlines()[0]
    )


def check_rules(files: Sequence[Path]) -> None:
    """Run `promtool check rules` on the files, raising CheckFailed with its report."""
    if not files:
        return
    result = _run([find_promtool(), "check", "rules", *map(str, files)], cwd=None)
    if result.returncode != 0:
        raise CheckFailed(f"promtool check rules failed:\n{_report(result)}")


def test_rules(files: Sequence[Path]) -> str:
    """Run `promtool test rules` on the files, returning its report or raising CheckFailed."""
    if not files:
        raise CheckFailed("no promtool test files found")
    # promtool resolves each test file's rule_files relative to that file's folder.
    result = _run([find_promtool(), "test", "rules", *map(str, files)], cwd=None)
    if result.returncode != 0:
        raise CheckFailed(f"promtool test rules failed:\n{_report(result)}")
    return _report(result)


def _run(command: list[str], cwd: Path | None) -> subprocess.CompletedProcess[str]:
    log.debug("running %s", " ".join(command))
    try:
        return subprocess.run(
            command,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    except FileNotFoundError as exc:
        raise ToolMissing(f"{command[0]} not found; {INSTALL_HINT}") from exc
    except subprocess.TimeoutExpired as exc:
        raise ToolFailed(
            f"{' '.join(command)} timed out after {TIMEOUT_SECONDS}s"
        ) from exc


def _report(result: subprocess.CompletedProcess[str]) -> str:
    return "\n".join(
        part.strip() for part in (result.stdout, result.stderr) if part.strip()
    )
