"""promtool by subprocess: find it, print its version, check and test generated files."""

from __future__ import annotations

import enum
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from generator.errors import CheckFailed, ToolFailed, ToolMissing

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "install it with: apt-get update && apt-get install --no-install-recommends prometheus "
    "(Debian and Ubuntu), or put the promtool of a Prometheus release on PATH"
)
# Default limit of one promtool call, in seconds.
TIMEOUT_SECONDS = 600


class RuleTestStatus(enum.Enum):
    """Outcome of one `promtool test rules` process."""

    PASSED = "passed"
    FAILED = "failed"
    TIMED_OUT = "timed out"


@dataclass(frozen=True)
class RuleTestResult:
    """One test file's outcome, with its run time and promtool's output."""

    path: Path
    status: RuleTestStatus
    seconds: float
    # promtool's stdout and stderr, empty after a timeout.
    output: str


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


def check_rules(
    files: Sequence[Path], timeout_seconds: float = TIMEOUT_SECONDS
) -> None:
    """Run `promtool check rules` on the files, raising CheckFailed with its report."""
    if not files:
        return
    result = _run(
        [find_promtool(), "check", "rules", *map(str, files)],
        cwd=None,
        timeout_seconds=timeout_seconds,
    )
    if result.returncode != 0:
        raise CheckFailed(f"promtool check rules failed:\n{_report(result)}")


def test_rules(files: Sequence[Path], timeout_seconds: float = TIMEOUT_SECONDS) -> str:
    """Run `promtool test rules` on the files, one process per file as run_rule_tests
    does, and return their joined reports, or raise CheckFailed naming each file that
    failed or timed out."""
    if not files:
        raise CheckFailed("no promtool test files found")
    results = list(run_rule_tests(files, timeout_seconds))
    failed = [r for r in results if r.status is not RuleTestStatus.PASSED]
    if failed:
        details = "\n".join(
            f"{r.path}: {r.status.value}\n{r.output}".rstrip() for r in failed
        )
        raise CheckFailed(f"promtool test rules failed:\n{details}")
    return "\n".join(r.output for r in results)


def run_rule_tests(
    files: Sequence[Path],
    timeout_seconds: float = TIMEOUT_SECONDS,
    max_workers: int | None = None,
) -> Iterator[RuleTestResult]:
    """Run one `promtool test rules` process per file, at most max_workers at a time
    (default os.cpu_count()), and yield each file's result in the order of files.

    A file that runs longer than timeout_seconds is killed and reported as timed out,
    and the other files still run. Raises ToolMissing when promtool is not installed.
    """
    promtool = find_promtool()
    workers = max_workers or os.cpu_count() or 1
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="promtool")
    try:
        futures: list[Future[RuleTestResult]] = [
            executor.submit(_test_file, promtool, path, timeout_seconds)
            for path in files
        ]
        for future in futures:
            yield future.result()
    finally:
        # Files not yet started are dropped when the caller stops early or an error is
        # raised. Running promtool processes are waited for.
        executor.shutdown(wait=True, cancel_futures=True)


def _test_file(promtool: str, path: Path, timeout_seconds: float) -> RuleTestResult:
    # promtool resolves each test file's rule_files relative to that file's folder.
    command = [promtool, "test", "rules", str(path)]
    started = time.monotonic()
    try:
        result = _spawn(command, cwd=None, timeout_seconds=timeout_seconds)
    except subprocess.TimeoutExpired:
        log.debug("%s timed out after %g s", " ".join(command), timeout_seconds)
        return RuleTestResult(
            path, RuleTestStatus.TIMED_OUT, time.monotonic() - started, ""
        )
    status = RuleTestStatus.PASSED if result.returncode == 0 else RuleTestStatus.FAILED
    return RuleTestResult(path, status, time.monotonic() - started, _report(result))


def _run(
    command: list[str], cwd: Path | None, timeout_seconds: float = TIMEOUT_SECONDS
) -> subprocess.CompletedProcess[str]:
    try:
        return _spawn(command, cwd, timeout_seconds)
    except subprocess.TimeoutExpired as exc:
        raise ToolFailed(
            f"{' '.join(command)} timed out after {timeout_seconds:g}s"
        ) from exc


def _spawn(
    command: list[str], cwd: Path | None, timeout_seconds: float
) -> subprocess.CompletedProcess[str]:
    """Run command to completion, killing it and raising TimeoutExpired after
    timeout_seconds."""
    log.debug("running %s", " ".join(command))
    try:
        return subprocess.run(
            command,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout_seconds,
            check=False,
        )
    except FileNotFoundError as exc:
        raise ToolMissing(f"{command[0]} not found; {INSTALL_HINT}") from exc


def _report(result: subprocess.CompletedProcess[str]) -> str:
    return "\n".join(
        part.strip() for part in (result.stdout, result.stderr) if part.strip()
    )
