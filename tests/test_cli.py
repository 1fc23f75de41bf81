"""The `emergence` command line: help, version, schema, generate, validate, check, test."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from generator import __version__
from generator.cli import main
from generator.spec import load_spec
from generator.spec.models import Spec

# The console script that pip installed next to the interpreter running the tests.
CONSOLE_SCRIPT = Path(sys.executable).with_name("emergence")


def _commands() -> list[tuple[str, click.Command]]:
    return [("emergence", main), *sorted(main.commands.items())]


def _command_cases() -> list[pytest.ParameterSet]:
    return [pytest.param(command, id=name) for name, command in _commands()]


def _options() -> list[pytest.ParameterSet]:
    cases = []
    for name, command in _commands():
        context = click.Context(command, info_name=name)
        for param in command.get_params(context):
            if isinstance(param, click.Option):
                cases.append(pytest.param(param, id=f"{name} {param.opts[-1]}"))
    return cases


def _arguments() -> list[pytest.ParameterSet]:
    cases = []
    for name, command in _commands():
        for param in command.params:
            if isinstance(param, click.Argument):
                cases.append(
                    pytest.param(command, param, id=f"{name} {param.name.upper()}")
                )
    return cases


def _run_console_script(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CONSOLE_SCRIPT), *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def path_without_promtool(tmp_path: Path) -> dict[str, str]:
    """Return an environment whose PATH is a folder containing only a python symlink."""
    folder = tmp_path / "bin-without-promtool"
    folder.mkdir()
    (folder / "python").symlink_to(sys.executable)
    return {**os.environ, "PATH": str(folder)}


@pytest.mark.parametrize("command", _command_cases())
def test_command_has_help_text(command):
    assert command.help
    assert command.help.strip()


@pytest.mark.parametrize("option", _options())
def test_option_has_help_text(option):
    assert option.help
    assert option.help.strip()


@pytest.mark.parametrize(("command", "argument"), _arguments())
def test_argument_named_in_help(command, argument):
    assert argument.name.upper() in command.help


@pytest.mark.parametrize("name", sorted(main.commands))
def test_command_help_exits_zero(cli, name):
    result = cli.run(name, "--help")

    assert result.exit_code == 0
    assert f"Usage: emergence {name} " in result.stdout
    assert "Example:" in result.stdout
    assert "Exit codes:" in result.stdout


def test_version_option_prints_version(cli):
    result = cli.run("--version")

    assert result.exit_code == 0
    assert result.stdout == f"emergence, version {__version__}\n"


def test_version_matches_package_metadata():
    assert importlib.metadata.version("emergence-ops") == __version__


def test_schema_prints_spec_json_schema(cli):
    result = cli.run("schema")

    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert "services" in schema["properties"]
    assert "apiVersion" in schema["properties"]
    assert "services" in schema["required"]
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def _schema_defaults(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Return the keys of an object schema that have a default, with that default, and
    the same for nested objects that have no default of their own."""
    if "$ref" in node:
        node = schema["$defs"][node["$ref"].removeprefix("#/$defs/")]
    values: dict[str, Any] = {}
    for key, field in node.get("properties", {}).items():
        if "default" in field:
            values[key] = field["default"]
        elif "$ref" in field:
            nested = _schema_defaults(schema, field)
            if nested:
                values[key] = nested
    return values


def test_schema_defaults_are_valid_input(cli):
    schema = json.loads(cli.run("schema").stdout)
    spec = _schema_defaults(schema, schema)
    service = _schema_defaults(schema, schema["properties"]["services"]["items"])
    spec.update(
        apiVersion="emergence-ops/v1",
        name="shop",
        services=[{**service, "name": "api"}],
    )
    path = cli.write_spec(yaml.safe_dump(spec, sort_keys=False))

    result = cli.run("validate", path)

    assert spec["scrape_interval"] == "15s"
    assert spec["windows"]["baseline"] == "1h"
    assert result.exit_code == 0, result.stderr
    minimal = {
        "apiVersion": "emergence-ops/v1",
        "name": "shop",
        "services": [{"name": "api"}],
    }
    assert load_spec(path).spec == Spec.model_validate(minimal)


def test_validate_writes_nothing(cli):
    spec = cli.write_spec(
        "apiVersion: emergence-ops/v1\nname: shop\nservices:\n"
        "  - name: api\n    depends_on: [db]\n  - name: db\n"
    )
    before = cli.snapshot(".")

    result = cli.run("validate", spec)

    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{spec}: valid, 2 services\n"
    assert cli.snapshot(".") == before


def test_generate_replaces_output_folder(cli):
    out = cli.generate_valid()
    (out / "notes.txt").write_text("written by hand\n")

    cli.generate_valid()

    assert not (out / "notes.txt").exists()
    assert (out / "shop").is_dir()


def test_generate_repeatable_in_process(cli, repo):
    specs = sorted((repo / "specs").glob("*.yaml"))

    first = cli.run("generate", *specs, "-o", "first")
    second = cli.run("generate", *specs, "-o", "second")

    assert first.exit_code == 0, first.stderr
    assert second.exit_code == 0, second.stderr
    assert cli.snapshot("first")
    assert cli.snapshot("first") == cli.snapshot("second")


def test_generate_independent_of_hash_seed(tmp_path, repo):
    specs = sorted((repo / "specs").glob("*.yaml"))
    trees = {}
    for seed in ("0", "1", "random"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = tmp_path / f"out-{seed}"

        result = _run_console_script(
            "generate", *specs, "-o", out, cwd=tmp_path, env=env
        )

        assert result.returncode == 0, result.stderr
        trees[seed] = {
            path.relative_to(out).as_posix(): path.read_bytes()
            for path in sorted(out.rglob("*"))
            if path.is_file()
        }
    assert trees["0"]
    assert trees["0"] == trees["1"]
    assert trees["0"] == trees["random"]


def test_check_passes_after_generate(cli, promtool):
    cli.generate_valid()

    result = cli.run("check", "valid.yaml", "-o", "out")

    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.stdout == ""
    assert "out is up to date" in result.stderr


def test_check_fails_after_hand_edit(cli, promtool):
    out = cli.generate_valid()
    edited = sorted(out.glob("shop/prometheus/rules/*.rules.yaml"))[0]
    name = edited.relative_to(out).as_posix()
    original = edited.read_text()
    first_line, rest = original.split("\n", 1)
    edited.write_text("# edited by hand\n" + rest)

    result = cli.run("check", "valid.yaml", "-o", "out")

    assert result.exit_code == 1
    assert result.stdout.startswith(f"--- out/{name}\n+++ generated/{name}\n@@ ")
    assert "\n-# edited by hand\n" in result.stdout
    assert f"\n+{first_line}\n" in result.stdout
    assert "out is stale" in result.stderr
    assert "run `emergence generate valid.yaml -o out`" in result.stderr
    assert edited.read_text() == "# edited by hand\n" + rest


def test_check_fails_after_file_deleted(cli, promtool):
    out = cli.generate_valid()
    deleted = sorted(out.glob("shop/prometheus/rules/*.rules.yaml"))[0]
    name = deleted.relative_to(out).as_posix()
    deleted.unlink()

    result = cli.run("check", "valid.yaml", "-o", "out")

    assert result.exit_code == 1
    assert f"--- /dev/null\n+++ generated/{name}\n" in result.stdout


def test_check_fails_after_file_added(cli, promtool):
    out = cli.generate_valid()
    (out / "shop" / "extra.yaml").write_text("groups: []\n")

    result = cli.run("check", "valid.yaml", "-o", "out")

    assert result.exit_code == 1
    assert "--- out/shop/extra.yaml\n+++ /dev/null\n" in result.stdout


def test_check_rejects_invalid_spec(cli):
    out = cli.generate_valid()
    spec = cli.write_spec(
        "apiVersion: emergence-ops/v1\nname: shop\nservices:\n  - name: Api\n"
    )

    result = cli.run("check", spec, "-o", out.name)

    assert result.exit_code == 1
    assert f"{spec}:4:11: services[0].name: " in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("check", "valid.yaml", "-o", "out"), id="check"),
        pytest.param(("test", "out"), id="test"),
    ],
)
def test_missing_promtool_exits_three(cli, path_without_promtool, args):
    cli.generate_valid()

    result = _run_console_script(*args, cwd=cli.folder, env=path_without_promtool)

    assert result.returncode == 3
    assert "error: promtool not found on PATH" in result.stderr
    assert "apt-get install --no-install-recommends prometheus" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_generate_without_promtool_warns(cli, path_without_promtool):
    spec = cli.write_spec(
        "apiVersion: emergence-ops/v1\nname: shop\nservices:\n  - name: api\n"
    )

    result = _run_console_script(
        "generate", spec, "-o", "out", cwd=cli.folder, env=path_without_promtool
    )

    assert result.returncode == 0, result.stderr
    assert "WARNING: promtool not found, so the rules were not checked" in (
        result.stderr
    )
    assert (cli.folder / "out" / "shop").is_dir()


def test_missing_promtool_in_process_exits_three(cli, monkeypatch):
    cli.generate_valid()
    monkeypatch.setattr("generator.tools.shutil.which", lambda name: None)

    result = cli.run("check", "valid.yaml", "-o", "out")

    assert result.exit_code == 3
    assert "promtool not found on PATH" in result.stderr


RULES = """\
groups:
  - name: example
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
"""

PASSING_TEST = """\
rule_files: [../rules/example.rules.yaml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'up{job="api", instance="a"}'
        values: '1 1 1'
    promql_expr_test:
      - expr: job:up:sum
        eval_time: 2m
        exp_samples:
          - labels: 'job:up:sum{job="api"}'
            value: 1
"""


# The test file folder of _write_suite(cli.folder / "suite", ...), relative to the cwd.
FOLDER = "suite/example/prometheus/tests"


def _write_suite(folder: Path, test_text: str) -> None:
    prometheus = folder / "example" / "prometheus"
    (prometheus / "rules").mkdir(parents=True)
    (prometheus / "tests").mkdir()
    (prometheus / "rules" / "example.rules.yaml").write_text(RULES)
    (prometheus / "tests" / "example.test.yaml").write_text(test_text)


def test_test_command_passes_suite(cli, promtool):
    _write_suite(cli.folder / "suite", PASSING_TEST)

    result = cli.run("test", "suite")

    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"{FOLDER}/example.test.yaml: passed in ")
    assert "promtool, version" in result.stderr
    assert "1 test file passed" in result.stderr


def test_test_command_fails_suite(cli, promtool):
    _write_suite(cli.folder / "suite", PASSING_TEST.replace("value: 1", "value: 2"))

    result = cli.run("test", "suite")

    assert result.exit_code == 1
    assert "example.test.yaml: failed in " in result.stdout
    assert "FAILED" in result.stdout
    assert "promtool test rules failed for 1 of 1 test file" in result.stderr
    assert f"  failed: {FOLDER}/example.test.yaml" in result.stderr


def test_test_command_reports_every_file(cli, promtool):
    suite = cli.folder / "suite"
    _write_suite(suite, PASSING_TEST)
    tests = suite / "example" / "prometheus" / "tests"
    (tests / "a-wrong.test.yaml").write_text(
        PASSING_TEST.replace("value: 1", "value: 2")
    )
    (tests / "z-right.test.yaml").write_text(PASSING_TEST)

    result = cli.run("test", "suite")

    lines = [line for line in result.stdout.splitlines() if not line.startswith(" ")]
    assert result.exit_code == 1
    assert len(lines) == 3
    assert lines[0].startswith(f"{FOLDER}/a-wrong.test.yaml: failed in ")
    assert lines[1].startswith(f"{FOLDER}/example.test.yaml: passed in ")
    assert lines[2].startswith(f"{FOLDER}/z-right.test.yaml: passed in ")
    assert "FAILED" in result.stdout
    assert "promtool test rules failed for 1 of 3 test files" in result.stderr


def test_test_command_without_tests_fails(cli, promtool):
    (cli.folder / "empty").mkdir()

    result = cli.run("test", "empty")

    assert result.exit_code == 1
    assert "no promtool test files found" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param((), "Usage: emergence [OPTIONS] COMMAND", id="no-command"),
        pytest.param(("generate",), "Missing argument 'SPECS...'", id="no-specs"),
        pytest.param(
            ("generate", "absent.yaml"),
            "'absent.yaml' does not exist",
            id="spec-not-found",
        ),
        pytest.param(
            ("validate", "spec.yaml", "--colour"),
            "No such option '--colour'",
            id="unknown-option",
        ),
        pytest.param(
            ("frobnicate",), "No such command 'frobnicate'", id="unknown-command"
        ),
        pytest.param(
            ("--log-level", "loud", "schema"),
            "'loud' is not one of 'debug', 'info', 'warning', 'error'",
            id="log-level-invalid",
        ),
        pytest.param(
            ("test", "absent"), "'absent' does not exist", id="folder-not-found"
        ),
        pytest.param(
            ("test", ".", "--timeout", "0"),
            "Invalid value for '--timeout'",
            id="timeout-not-positive",
        ),
    ],
)
def test_usage_error_exits_two(cli, args, message):
    cli.write_spec(
        "apiVersion: emergence-ops/v1\nname: shop\nservices:\n  - name: api\n"
    )

    result = cli.run(*args)

    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_check_fails_on_stray_spec_folder(cli, promtool):
    out = cli.generate_valid()
    shutil.copytree(out / "shop", out / "removed-spec")

    result = cli.run("check", "valid.yaml", "-o", "out")

    assert result.exit_code == 1
    assert "--- out/removed-spec/prometheus/rules/" in result.stdout
    assert "+++ /dev/null" in result.stdout


def test_generate_leaves_output_readable_by_others(cli):
    out = cli.generate_valid()

    mode = out.stat().st_mode & 0o777

    assert mode == 0o777 & ~_current_umask()


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# A stand-in for promtool that logs the start and end of each `test rules` process to
# $FAKE_PROMTOOL_LOG. Each process waits up to 10 s until $FAKE_PROMTOOL_PEERS processes
# have started, so the log shows how many ran at once. A test file named *slow* sleeps
# for 60 s, one named *fail* fails, and any other passes.
FAKE_PROMTOOL = """\
import os
import sys
import time

args = sys.argv[1:]
if args == ["--version"]:
    print("promtool, version 0.0.0-fake")
    sys.exit(0)
if args[:2] != ["test", "rules"]:
    sys.exit(0)
files = " ".join(args[2:])
log = os.environ["FAKE_PROMTOOL_LOG"]
with open(log, "a", encoding="utf-8") as stream:
    stream.write(f"start {files}\\n")
peers = int(os.environ.get("FAKE_PROMTOOL_PEERS", "1"))
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    with open(log, encoding="utf-8") as stream:
        if sum(line.startswith("start ") for line in stream) >= peers:
            break
    time.sleep(0.01)
time.sleep(0.1)
if "slow" in files:
    time.sleep(60)
with open(log, "a", encoding="utf-8") as stream:
    stream.write(f"end {files}\\n")
if "fail" in files:
    print(f"Unit Testing: {files}\\n  FAILED:\\n    expected 1, got 2")
    sys.exit(1)
print(f"Unit Testing: {files}\\n  SUCCESS")
"""


@pytest.fixture
def fake_promtool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put FAKE_PROMTOOL first on PATH as `promtool` and return its log file."""
    folder = tmp_path / "bin-fake-promtool"
    folder.mkdir()
    script = folder / "promtool"
    script.write_text(f"#!{sys.executable}\n{FAKE_PROMTOOL}")
    script.chmod(0o755)
    log = tmp_path / "fake-promtool.log"
    log.touch()
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_PROMTOOL_LOG", str(log))
    return log


def _write_test_files(folder: Path, names: list[str]) -> None:
    tests = folder / "example" / "prometheus" / "tests"
    tests.mkdir(parents=True)
    for name in names:
        (tests / f"{name}.test.yaml").write_text("tests: []\n")


def _max_running(log: Path) -> int:
    running = highest = 0
    for line in log.read_text().splitlines():
        running += 1 if line.startswith("start ") else -1
        highest = max(highest, running)
    return highest


def test_test_command_runs_one_process_per_file(cli, fake_promtool, monkeypatch):
    names = ["a", "b", "c", "d", "e"]
    _write_test_files(cli.folder / "suite", names)
    monkeypatch.setattr("generator.tools.os.cpu_count", lambda: 2)
    monkeypatch.setenv("FAKE_PROMTOOL_PEERS", "2")

    result = cli.run("test", "suite")

    started = sorted(
        line.removeprefix("start ")
        for line in fake_promtool.read_text().splitlines()
        if line.startswith("start ")
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    assert started == [f"{FOLDER}/{name}.test.yaml" for name in names]
    assert _max_running(fake_promtool) == 2
    assert "5 test files passed" in result.stderr


@pytest.mark.parametrize(
    ("names", "exit_code", "message"),
    [
        pytest.param(
            ["a-slow", "b"],
            3,
            "promtool test rules timed out after 0.5 s for 1 of 2 test files; "
            "raise the limit with --timeout:\n"
            f"  timed out: {FOLDER}/a-slow.test.yaml",
            id="timed-out",
        ),
        pytest.param(
            ["a-slow", "b-fail", "c"],
            1,
            "promtool test rules failed for 1 of 3 test files and timed out after "
            f"0.5 s for 1:\n  failed: {FOLDER}/b-fail.test.yaml\n"
            f"  timed out: {FOLDER}/a-slow.test.yaml",
            id="failed-and-timed-out",
        ),
    ],
)
def test_test_command_reports_timeout(cli, fake_promtool, names, exit_code, message):
    _write_test_files(cli.folder / "suite", names)

    result = cli.run("test", "suite", "--timeout", "0.5")

    lines = [line for line in result.stdout.splitlines() if not line.startswith(" ")]
    assert result.exit_code == exit_code
    assert message in result.stderr
    assert lines[0] == f"{FOLDER}/a-slow.test.yaml: timed out after 0.5 s"
    assert lines[-1].startswith(f"{FOLDER}/{names[-1]}.test.yaml: passed in ")
    assert len(lines) == len(names)


def test_test_help_shows_timeout_default(cli):
    result = cli.run("test", "--help")

    words = " ".join(result.stdout.split())
    assert "--timeout SECONDS" in words
    assert "in seconds" in words
    assert "[default: 600; 0<x<=86400]" in words


SHOP_SPEC = "apiVersion: emergence-ops/v1\nname: shop\nservices:\n  - name: api\n"


def _all_paths(folder: Path) -> list[str]:
    """Return every file and folder under folder, so an empty folder left behind shows."""
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*"))


def test_generate_writes_marker_file(cli):
    out = cli.generate_valid()

    marker = out / ".emergence-ops"

    assert marker.read_text() == (
        "Generated by emergence-ops: `emergence generate` replaces this folder whole "
        "on every run.\n"
    )


def test_generate_rejects_user_folder(cli):
    spec = cli.write_spec(SHOP_SPEC)
    (cli.folder / "precious.txt").write_text("written by hand\n")
    (cli.folder / "sub").mkdir()
    (cli.folder / "sub" / "notes.txt").write_text("written by hand\n")
    before = _all_paths(cli.folder)
    siblings = sorted(cli.folder.parent.glob(f".{cli.folder.name}.*"))

    result = cli.run("generate", spec, "-o", ".")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert (
        f"error: output folder {cli.folder} is not empty and has no .emergence-ops"
        in result.stderr
    )
    assert "not emergence-ops output: precious.txt, spec.yaml, sub/." in result.stderr
    assert "Choose a new or empty output folder" in result.stderr
    assert _all_paths(cli.folder) == before
    assert sorted(cli.folder.parent.glob(f".{cli.folder.name}.*")) == siblings


def test_generate_lists_five_foreign_entries(cli):
    spec = cli.write_spec(SHOP_SPEC)
    out = cli.folder / "out"
    out.mkdir()
    for index in range(7):
        (out / f"file-{index}.txt").write_text("written by hand\n")

    result = cli.run("generate", spec, "-o", "out")

    assert result.exit_code == 1
    assert (
        "file-0.txt, file-1.txt, file-2.txt, file-3.txt, file-4.txt and 2 more."
    ) in result.stderr
    assert sorted(path.name for path in out.iterdir()) == [
        f"file-{index}.txt" for index in range(7)
    ]


def test_generate_fills_empty_folder(cli):
    (cli.folder / "out").mkdir()

    out = cli.generate_valid()

    assert (out / ".emergence-ops").is_file()
    assert (out / "shop" / "prometheus").is_dir()


@pytest.mark.parametrize(
    ("entry", "listed"),
    [
        pytest.param("shop/", "shop/", id="unmarked-spec-folder"),
        pytest.param("prod/prometheus/", "prod/", id="hand-written-layout"),
        pytest.param("notes.txt", "notes.txt", id="top-level-file"),
    ],
)
def test_generate_rejects_unmarked_folder(cli, entry, listed):
    """Without the marker, even a folder laid out like output may be the user's own, so
    it is never replaced."""
    out = cli.generate_valid()
    (out / ".emergence-ops").unlink()
    extra = out / entry
    if entry.endswith("/"):
        extra.mkdir(parents=True, exist_ok=True)
    else:
        extra.write_text("written by hand\n")
    before = cli.snapshot("out")

    result = cli.run("generate", "valid.yaml", "-o", "out")

    assert result.exit_code == 1
    assert "has no .emergence-ops marker file" in result.stderr
    assert listed in result.stderr
    assert cli.snapshot("out") == before


def test_generate_follows_a_symlinked_folder(cli):
    """The folder a symlink points to is replaced, and the symlink stays."""
    real = cli.generate_valid("shared")
    (cli.folder / "link").symlink_to(real)

    result = cli.run("generate", "valid.yaml", "-o", "link")

    assert result.exit_code == 0, result.stderr
    assert (cli.folder / "link").is_symlink()
    assert (real / "shop" / "prometheus").is_dir()
    assert not list(cli.folder.glob(".*.new-*"))


def test_generate_keeps_the_folder_mode(cli):
    out = cli.generate_valid()
    out.chmod(0o750)

    cli.generate_valid()

    assert out.stat().st_mode & 0o777 == 0o750


def test_check_fails_without_marker_file(cli, promtool):
    out = cli.generate_valid()
    (out / ".emergence-ops").unlink()

    result = cli.run("check", "valid.yaml", "-o", "out")

    assert result.exit_code == 1
    assert "--- /dev/null\n+++ generated/.emergence-ops\n" in result.stdout
