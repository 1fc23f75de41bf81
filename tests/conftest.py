"""Shared fixtures: spec files in tmp_path and the `emergence` CLI run in-process."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from generator.cli import main

REPO = Path(__file__).resolve().parent.parent

VALID_SPEC = """\
apiVersion: emergence-ops/v1
name: shop
services:
  - name: api
    depends_on: [db]
  - name: db
"""


class CliHarness:
    """Spec files and CLI runs inside one test's tmp_path, which is also the cwd."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.runner = CliRunner()

    def write_spec(self, text: str, name: str = "spec.yaml") -> Path:
        """Write a spec file and return its path relative to the cwd."""
        (self.folder / name).write_text(text, encoding="utf-8")
        return Path(name)

    def run(self, *args: str | Path) -> Result:
        """Invoke `emergence ARGS...`. An unexpected exception propagates and fails the test."""
        return self.runner.invoke(
            main,
            [str(arg) for arg in args],
            prog_name="emergence",
            catch_exceptions=False,
        )

    def generate_valid(self, out: str = "out") -> Path:
        """Generate `out` from a valid spec, failing the test unless generate exits 0."""
        spec = self.write_spec(VALID_SPEC, name="valid.yaml")
        result = self.run("generate", spec, "-o", out)
        assert result.exit_code == 0, result.stderr
        return self.folder / out

    def snapshot(self, folder: str | Path) -> dict[str, bytes]:
        """Return every file under folder as {relative POSIX path: bytes}."""
        root = self.folder / folder
        return {
            path.relative_to(root).as_posix(): path.read_bytes()
            for path in sorted(root.rglob("*"))
            if path.is_file()
        }


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliHarness:
    monkeypatch.chdir(tmp_path)
    return CliHarness(tmp_path)


@pytest.fixture
def promtool() -> str:
    """Return promtool's path, skipping the test where it is not installed."""
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not on PATH")
    return path


@pytest.fixture(scope="session")
def repo() -> Path:
    """Return the repository root, which contains specs/."""
    return REPO
