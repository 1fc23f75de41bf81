"""The `emergence` command line: generate, validate, check, test, schema."""

from __future__ import annotations

import difflib
import json
import logging
import math
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

import click

from generator import __version__, tools
from generator.bundle import build_bundles
from generator.errors import CheckFailed, GeneratorError, ToolFailed
from generator.output import check_replaceable, replace_folder, with_marker, write_tree
from generator.spec import load_specs
from generator.spec.schema import spec_schema
from generator.targets import render_bundle

log = logging.getLogger("generator")

EPILOG = """\b
Exit codes:
  0  success (for check: out/ is up to date and valid)
  1  invalid spec, out/ stale or not empty and unmarked, or promtool rejected
     the output; test also exits 1 when some files fail and others time out
  2  usage error
  3  promtool missing, crashed or timed out"""

SPECS = click.argument(
    "specs",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)


def _out_option(help_text: str):
    return click.option(
        "-o",
        "--out",
        "out",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("out"),
        show_default=True,
        help=help_text,
    )


OUT = _out_option(
    "Output folder; each spec writes <out>/<spec name>/. The folder is replaced whole, "
    "so it must be missing, empty, or marked by the .emergence-ops file of earlier output."
)
CHECKED_OUT = _out_option(
    "Output folder to compare with a fresh generation of SPECS; nothing is written."
)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Print a known failure on stderr and exit with its code, without a traceback."""
    try:
        yield
    except GeneratorError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)


@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="emergence")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
    help="Lowest severity of log lines written to stderr.",
)
def main(log_level: str) -> None:
    """Generate Prometheus rules and promtool tests that detect emergent failures.

    \b
    Example:
      emergence generate specs/*.yaml -o out
      emergence check specs/*.yaml -o out
    """
    logging.basicConfig(
        level=log_level.upper(), format="%(levelname)s: %(message)s", stream=sys.stderr
    )


def _generate_files(specs: tuple[Path, ...]) -> dict[PurePosixPath, str]:
    bundles = build_bundles(load_specs(specs))
    rendered: dict[PurePosixPath, str] = {}
    for bundle in bundles:
        rendered.update(render_bundle(bundle))
    files = with_marker(rendered)
    log.info(
        "generated %s for %s", _count(len(files), "file"), _count(len(bundles), "spec")
    )
    return files


def _rule_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*/prometheus/rules/*.rules.yaml"))


def _verify_if_possible(folder: Path) -> None:
    try:
        tools.find_promtool()
    except GeneratorError:
        log.warning(
            "promtool not found, so the rules were not checked; %s", tools.INSTALL_HINT
        )
        return
    tools.check_rules(_rule_files(folder))


@main.command(epilog=EPILOG)
@SPECS
@OUT
def generate(specs: tuple[Path, ...], out: Path) -> None:
    """Generate rules and tests from SPECS into the output folder.

    Everything is written and checked with promtool (when installed) in a temporary
    folder first, so a failure leaves the previous output exactly as it was. An output
    folder that is not empty and has no .emergence-ops marker is rejected before
    anything is written.

    \b
    Example:
      emergence generate specs/online-boutique.yaml -o out
    """
    with reported_errors():
        # replace_folder checks again before it writes. This first check rejects a wrong
        # -o before a large spec spends time generating.
        check_replaceable(out)
        files = _generate_files(specs)
        replace_folder(out, files, verify=_verify_if_possible)
        log.info("wrote %s", out)


@main.command(epilog=EPILOG)
@SPECS
def validate(specs: tuple[Path, ...]) -> None:
    """Report every error in SPECS and write nothing.

    \b
    Example:
      emergence validate specs/*.yaml
    """
    with reported_errors():
        bundles = build_bundles(load_specs(specs))
        for bundle in bundles:
            click.echo(
                f"{bundle.plan.path}: valid, {_count(len(bundle.plan.services), 'service')}"
            )


@main.command(epilog=EPILOG)
@SPECS
@CHECKED_OUT
def check(specs: tuple[Path, ...], out: Path) -> None:
    """Fail when the output folder differs from a fresh generation of SPECS or promtool rejects it.

    Regenerates into a temporary folder, prints a unified diff against the output folder
    on stdout, and runs `promtool check rules` on the fresh rules.

    \b
    Example:
      emergence check specs/*.yaml -o out
    """
    with reported_errors():
        files = _generate_files(specs)
        with tempfile.TemporaryDirectory(prefix="emergence-check-") as temporary:
            fresh = Path(temporary)
            write_tree(files, fresh)
            tools.check_rules(_rule_files(fresh))
            diff = _diff_trees(out, fresh)
        if diff:
            click.echo(diff, nl=False)
            raise CheckFailed(
                f"{out} is stale: run `emergence generate {' '.join(map(str, specs))} -o {out}` "
                "and commit the result"
            )
        click.echo(f"{out} is up to date ({len(files)} files)", err=True)


def _finite_seconds(value: float) -> float:
    # FloatRange compares, and every comparison with NaN is false, so it lets NaN through.
    if math.isnan(value):
        raise click.BadParameter(f"{value} is not a number of seconds")
    return value


@main.command(epilog=EPILOG, name="test")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--timeout",
    "timeout_seconds",
    # A day at most: longer values overflow the timeout of subprocess' wait.
    type=click.FloatRange(min=0, min_open=True, max=86400),
    callback=lambda ctx, param, value: _finite_seconds(value),
    metavar="SECONDS",
    default=tools.TIMEOUT_SECONDS,
    show_default=True,
    help="Time limit of each promtool call, in seconds; a test file that runs longer "
    "is reported as timed out.",
)
def test_command(folder: Path, timeout_seconds: float) -> None:
    """Run every generated promtool test under FOLDER (an output folder).

    Runs `promtool check rules` on all rule files, then one `promtool test rules` per test
    file, as many at a time as there are CPUs. Prints each file's result in path order,
    with promtool's output for a failed file, and exits non-zero when any file failed or
    timed out.

    \b
    Example:
      emergence test out --timeout 1200
    """
    with reported_errors():
        click.echo(tools.promtool_version(), err=True)
        files = sorted(folder.glob("**/prometheus/tests/*.test.yaml"))
        tools.check_rules(
            sorted(folder.glob("**/prometheus/rules/*.rules.yaml")),
            timeout_seconds=timeout_seconds,
        )
        if not files:
            raise CheckFailed(
                f"no promtool test files found under {folder}/*/prometheus/tests/; "
                "generate into this folder first, or check the generate warnings for "
                "patterns left without tests"
            )
        results: list[tools.RuleTestResult] = []
        for result in tools.run_rule_tests(files, timeout_seconds):
            click.echo(_describe_test_result(result, timeout_seconds))
            results.append(result)
        _raise_for_test_failures(results, timeout_seconds)
        click.echo(f"{_count(len(results), 'test file')} passed", err=True)


def _describe_test_result(result: tools.RuleTestResult, timeout_seconds: float) -> str:
    if result.status is tools.RuleTestStatus.TIMED_OUT:
        return f"{result.path}: timed out after {timeout_seconds:g} s"
    line = f"{result.path}: {result.status.value} in {result.seconds:.1f} s"
    if result.status is tools.RuleTestStatus.FAILED:
        indented = "\n".join(f"  {text}" for text in result.output.splitlines())
        return f"{line}\n{indented}"
    return line


def _raise_for_test_failures(
    results: list[tools.RuleTestResult], timeout_seconds: float
) -> None:
    """Raise CheckFailed (exit 1) when any file failed, else ToolFailed (exit 3) when
    any file timed out. A failure is a definite result, so it decides the exit code."""
    failed = [r.path for r in results if r.status is tools.RuleTestStatus.FAILED]
    timed_out = [r.path for r in results if r.status is tools.RuleTestStatus.TIMED_OUT]
    if not failed and not timed_out:
        return
    lines = [f"  failed: {path}" for path in failed]
    lines += [f"  timed out: {path}" for path in timed_out]
    listing = "\n".join(lines)
    total = _count(len(results), "test file")
    if failed:
        head = f"promtool test rules failed for {len(failed)} of {total}"
        if timed_out:
            head += f" and timed out after {timeout_seconds:g} s for {len(timed_out)}"
        raise CheckFailed(f"{head}:\n{listing}")
    raise ToolFailed(
        f"promtool test rules timed out after {timeout_seconds:g} s for "
        f"{len(timed_out)} of {total}; raise the limit with --timeout:\n{listing}"
    )


@main.command(epilog=EPILOG)
def schema() -> None:
    """Print the JSON Schema of the spec file on stdout.

    \b
    Example:
      emergence schema > spec.schema.json
    """
    click.echo(json.dumps(spec_schema(), indent=2, sort_keys=True))


def _diff_trees(old: Path, new: Path) -> str:
    """Return a unified diff of two whole output trees, stray and missing files included,
    because `generate` replaces the output folder whole."""
    old_files, new_files = _read_tree(old), _read_tree(new)
    chunks = []
    for name in sorted(old_files.keys() | new_files.keys()):
        before, after = old_files.get(name), new_files.get(name)
        if before == after:
            continue
        lines = list(
            difflib.unified_diff(
                (before or "").splitlines(keepends=True),
                (after or "").splitlines(keepends=True),
                fromfile=f"{old}/{name}" if before is not None else "/dev/null",
                tofile=f"generated/{name}" if after is not None else "/dev/null",
            )
        )
        if not lines:  # an empty file that exists on one side only
            where = old if after is None else "generated"
            lines = [f"Only in {where}: {name}\n"]
        chunks.extend(lines)
    return "".join(chunk if chunk.endswith("\n") else chunk + "\n" for chunk in chunks)


def _read_tree(folder: Path) -> dict[str, str]:
    if not folder.is_dir():
        return {}
    return {
        path.relative_to(folder).as_posix(): path.read_text(
            encoding="utf-8", errors="replace"
        )
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
