"""Tests of the built wheel: its templates, its console script and its output.

Builds the wheel with `python -m build` (hatchling in an isolated build environment),
installs it into a fresh virtual environment, and compares that install's output with the
output of the environment running pytest, byte for byte. pip resolves hatchling and the
runtime dependencies from its cache or the index, constrained to the versions installed in
the running environment, so a newer PyYAML or Jinja release cannot cause a difference.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "rules"
SPECS = sorted((REPO / "specs").glob("*.yaml"))
BUILD_TIMEOUT_SECONDS = 300
PROJECT = "emergence-ops"

pytestmark = pytest.mark.slow


def _run(command: list[str | Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a command, and fail the test when it exits non-zero.

    PYTHONPATH, PYTHONHOME and VIRTUAL_ENV are left out, so the source tree cannot leak in.
    """
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
    }
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, (
        f"{' '.join(map(str, command))} exited with {result.returncode}:\n"
        f"{result.stdout}\n{result.stderr}"
    )
    return result


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _write_constraints(path: Path) -> Path:
    """Write pip constraints pinning every distribution installed here but the project."""
    pins = sorted(
        {
            f"{dist.metadata['Name']}=={dist.version}"
            for dist in importlib.metadata.distributions()
            if dist.metadata["Name"] != PROJECT
        }
    )
    path.write_text("\n".join(pins) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the project's wheel once for this module and return its path."""
    dist = tmp_path_factory.mktemp("dist")
    started = time.perf_counter()
    _run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", dist, REPO],
        cwd=dist,
    )
    print(f"wheel built in {time.perf_counter() - started:.1f}s")
    wheels = sorted(dist.glob("emergence_ops-*.whl"))
    assert len(wheels) == 1, f"expected one wheel in {dist}, found {wheels}"
    return wheels[0]


def test_wheel_contains_rule_templates(wheel: Path) -> None:
    templates = sorted(path for path in RULES.rglob("*") if path.is_file())
    assert templates, f"no templates found under {RULES}"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for template in templates:
            packaged = f"generator/rules/{template.relative_to(RULES).as_posix()}"
            assert packaged in names, f"{packaged} is missing from {wheel.name}"
            assert archive.read(packaged) == template.read_bytes(), (
                f"{packaged} in {wheel.name} differs from {template}"
            )


def test_wheel_declares_console_script(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        entry_points = next(
            name for name in archive.namelist() if name.endswith("entry_points.txt")
        )
        text = archive.read(entry_points).decode("utf-8")
    assert "emergence = generator.cli:main" in text


def test_installed_wheel_generates_same_output(wheel: Path, tmp_path: Path) -> None:
    assert SPECS, "no specs/*.yaml to generate from"
    started = time.perf_counter()
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=tmp_path)
    python = venv / "bin" / "python"
    constraints = _write_constraints(tmp_path / "constraints.txt")
    _run(
        [python, "-m", "pip", "install", "--quiet", "--constraint", constraints, wheel],
        cwd=tmp_path,
    )
    installed = time.perf_counter()

    # The fresh environment must import the wheel's copy, not the source tree, and
    # render from the templates packaged beside it.
    located = _run(
        [
            python,
            "-c",
            "import generator.rendering as r; print(r.__file__); print(r.rules_dir())",
        ],
        cwd=tmp_path,
    ).stdout.split()
    venv_lib = str(venv / "lib")
    assert located[0].startswith(venv_lib), f"generator imported from {located[0]}"
    assert located[1].startswith(venv_lib), f"templates read from {located[1]}"

    from_wheel = tmp_path / "from-wheel"
    _run([venv / "bin" / "emergence", "generate", *SPECS, "-o", from_wheel], tmp_path)
    editable = tmp_path / "editable"
    emergence = Path(sys.executable).parent / "emergence"
    _run([emergence, "generate", *SPECS, "-o", editable], cwd=tmp_path)
    print(
        f"venv and install {installed - started:.1f}s, "
        f"both generations {time.perf_counter() - installed:.1f}s"
    )

    expected, actual = _tree(editable), _tree(from_wheel)
    assert expected, f"the editable install generated nothing into {editable}"
    assert sorted(actual) == sorted(expected)
    for name, content in expected.items():
        assert actual[name] == content, f"{name} differs between wheel and editable"
