"""Grafana's published dashboard types accept every generated dashboard.

No Grafana server runs in the tests, so each dashboard is checked against the TypeScript
types of @grafana/schema 11.1.0, Grafana's Apache-licensed schema package, which ships no
JSON Schema. tools/grafana-schema/dashboard.ts composes those types, and this module writes
each dashboard as an object literal assigned to that type and runs `tsc --strict` once over
all of them. Excess-property checks reject unknown and legacy fields, and each panel's
`options` and custom field config are checked with its plugin's own types.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from generator.bundle import build_bundle
from generator.plan import plan_system
from generator.spec.loader import load_spec
from generator.targets import grafana_dashboards

REPO = Path(__file__).resolve().parent.parent
SPECS = sorted((REPO / "specs").glob("*.yaml"))
TOOLS = REPO / "tools" / "grafana-schema"
TSC = TOOLS / "node_modules" / "typescript" / "bin" / "tsc"
DASHBOARD_TYPE = TOOLS / "dashboard.ts"
TSC_TIMEOUT_SECONDS = 300
# skipLibCheck skips type errors inside the packages' own .d.ts files. The types that
# the dashboards are assigned to are resolved and checked all the same.
TSC_OPTIONS = [
    "--noEmit",
    "--strict",
    "--skipLibCheck",
    "--target",
    "es2022",
    "--module",
    "preserve",
    "--pretty",
    "false",
]
TSC_ERROR = re.compile(
    r"^(?P<file>.+?)\((?P<line>\d+),(?P<column>\d+)\): error (?P<code>TS\d+): (?P<message>.*)$"
)

Dashboard = dict[str, Any]


@dataclass(frozen=True)
class TypeScriptModule:
    """A dashboard as TypeScript source, with the JSON path that each line writes."""

    text: str
    line_paths: list[str]


@dataclass(frozen=True)
class TscError:
    """One tsc error, located in the dashboard it was reported for."""

    dashboard: str
    path: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.dashboard}: {self.path or '(dashboard)'}: {self.code} {self.message}"


def _append_literal(
    lines: list[tuple[str, str]],
    value: Any,
    path: str,
    prefix: str,
    suffix: str,
    depth: int,
) -> None:
    """Append `value` as a TypeScript literal, one key or item per line, with its path."""
    indent = "  " * depth
    if isinstance(value, dict) and value:
        lines.append((f"{indent}{prefix}{{", path))
        for index, (key, item) in enumerate(value.items()):
            comma = "," if index < len(value) - 1 else ""
            item_path = f"{path}.{key}" if path else key
            _append_literal(
                lines, item, item_path, f"{json.dumps(key)}: ", comma, depth + 1
            )
        lines.append((f"{indent}}}{suffix}", path))
    elif isinstance(value, list) and value:
        lines.append((f"{indent}{prefix}[", path))
        for index, item in enumerate(value):
            comma = "," if index < len(value) - 1 else ""
            _append_literal(lines, item, f"{path}[{index}]", "", comma, depth + 1)
        lines.append((f"{indent}]{suffix}", path))
    else:
        # JSON scalars, {} and [] are valid TypeScript literals as they are.
        lines.append((f"{indent}{prefix}{json.dumps(value)}{suffix}", path))


def to_typescript(dashboard: Dashboard) -> TypeScriptModule:
    """Return TypeScript source that assigns `dashboard` to the Dashboard type of dashboard.ts."""
    type_module = json.dumps(DASHBOARD_TYPE.with_suffix("").as_posix())
    lines = [(f"import type {{ Dashboard }} from {type_module};", "")]
    _append_literal(
        lines, dashboard, "", "export const dashboard: Dashboard = ", ";", 0
    )
    return TypeScriptModule(
        text="".join(f"{text}\n" for text, _ in lines),
        line_paths=[path for _, path in lines],
    )


def _tsc_command() -> list[str]:
    """Return the command that runs the pinned tsc, failing the test where it is missing."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "node is not on PATH: run `make tools`, which installs Debian's nodejs"
        )
    manifest = json.loads((TOOLS / "package.json").read_text(encoding="utf-8"))
    for name, version in manifest["dependencies"].items():
        installed_manifest = TOOLS / "node_modules" / name / "package.json"
        if not installed_manifest.is_file():
            pytest.fail(
                f"{name} is not installed in {TOOLS.relative_to(REPO)}: run `make tools`"
            )
        installed = json.loads(installed_manifest.read_text(encoding="utf-8"))[
            "version"
        ]
        if installed != version:
            pytest.fail(
                f"{name} {installed} is installed but package.json pins {version}: "
                "run `make tools` to reinstall"
            )
    return [node, str(TSC)]


def check_dashboards(dashboards: dict[str, Dashboard], folder: Path) -> list[TscError]:
    """Type-check every dashboard with one tsc run and return the errors found.

    Fails the test when tsc reports anything it cannot place in a dashboard, such as an
    error in dashboard.ts or an unknown compiler option.
    """
    modules: dict[Path, tuple[str, TypeScriptModule]] = {}
    for name, dashboard in dashboards.items():
        module = to_typescript(dashboard)
        source = folder / f"{Path(name).stem}.ts"
        source.write_text(module.text, encoding="utf-8")
        modules[source.resolve()] = (name, module)

    result = subprocess.run(
        [*_tsc_command(), *TSC_OPTIONS, *map(str, modules)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=TSC_TIMEOUT_SECONDS,
        check=False,
    )
    output = f"tsc exited with {result.returncode}:\n{result.stdout}{result.stderr}"

    errors: list[TscError] = []
    for line in result.stdout.splitlines():
        match = TSC_ERROR.match(line)
        if match is None and errors and line.startswith(" "):
            # tsc indents the continuation lines of a multi-line message.
            last = errors[-1]
            message = f"{last.message}\n{line}"
            errors[-1] = TscError(last.dashboard, last.path, last.code, message)
            continue
        source = None if match is None else (folder / match["file"]).resolve()
        if match is None or source not in modules:
            pytest.fail(f"tsc reported something outside the dashboards. {output}")
        name, module = modules[source]
        path = module.line_paths[int(match["line"]) - 1]
        errors.append(TscError(name, path, match["code"], match["message"]))
    assert result.stderr == "", output
    assert errors or result.returncode == 0, output
    return errors


@pytest.fixture(scope="module")
def dashboards() -> dict[str, Dashboard]:
    """Return every dashboard of every example spec, as the generator writes it."""
    found: dict[str, Dashboard] = {}
    for spec in SPECS:
        files = grafana_dashboards.render(build_bundle(plan_system(load_spec(spec))))
        for path, text in files.items():
            if path.parts[:2] == ("grafana", "dashboards"):
                found[path.name] = json.loads(text)
    assert len(found) == 2 * len(SPECS)
    return found


def test_generated_dashboards_match_grafana_types(
    dashboards: dict[str, Dashboard], tmp_path: Path
) -> None:
    errors = check_dashboards(dashboards, tmp_path)
    # NOTE: tsc reports one error along each path of a literal, so an excess field can
    # hide behind an error deeper in the same object and appear once that one is fixed.
    assert not errors, (
        "Grafana 11.1's types reject the generated dashboards:\n"
        + "\n".join(map(str, errors))
    )


def _bare(dashboard: Dashboard) -> Dashboard:
    """Return the dashboard without panels, variables and annotations.

    tsc reports one error along each path of a literal, so an error elsewhere in a
    generated dashboard could hide the error a corruption must cause. A corruption is
    therefore made in a dashboard that holds only the part it changes.
    """
    return {
        key: copy.deepcopy(value)
        for key, value in dashboard.items()
        if key not in {"panels", "templating", "annotations"}
    }


def _with_panel(
    dashboard: Dashboard, panel_type: str
) -> tuple[Dashboard, dict[str, Any]]:
    """Return a bare dashboard containing a copy of the first panel of `panel_type`."""
    panel = next(
        (panel for panel in dashboard["panels"] if panel["type"] == panel_type), None
    )
    assert panel is not None, (
        f"the generated dashboard has no {panel_type} panel to change"
    )
    copied = copy.deepcopy(panel)
    return {**_bare(dashboard), "panels": [copied]}, copied


def _panel_span(dashboard: Dashboard) -> tuple[Dashboard, str]:
    corrupted, panel = _with_panel(dashboard, "timeseries")
    panel["span"] = 6
    return corrupted, "panels[0].span"


def _string_datasource(dashboard: Dashboard) -> tuple[Dashboard, str]:
    corrupted, panel = _with_panel(dashboard, "timeseries")
    panel["datasource"] = "Prometheus"
    return corrupted, "panels[0].datasource"


def _graph_panel(dashboard: Dashboard) -> tuple[Dashboard, str]:
    corrupted, panel = _with_panel(dashboard, "timeseries")
    panel["type"] = "graph"
    panel["lines"] = True
    panel["yaxes"] = [
        {"format": "short", "show": True},
        {"format": "short", "show": False},
    ]
    return corrupted, "panels[0].type"


def _dashboard_rows(dashboard: Dashboard) -> tuple[Dashboard, str]:
    corrupted = _bare(dashboard)
    corrupted["rows"] = []
    return corrupted, "rows"


def _string_schema_version(dashboard: Dashboard) -> tuple[Dashboard, str]:
    corrupted = _bare(dashboard)
    corrupted["schemaVersion"] = str(corrupted["schemaVersion"])
    return corrupted, "schemaVersion"


def _singlestat_option(dashboard: Dashboard) -> tuple[Dashboard, str]:
    corrupted, panel = _with_panel(dashboard, "stat")
    panel["options"]["valueName"] = "current"
    return corrupted, "panels[0].options.valueName"


def _stat_custom_field(dashboard: Dashboard) -> tuple[Dashboard, str]:
    corrupted, panel = _with_panel(dashboard, "stat")
    panel["fieldConfig"]["defaults"]["custom"]["align"] = "auto"
    return corrupted, "panels[0].fieldConfig.defaults.custom.align"


def _graph_field_config(dashboard: Dashboard) -> tuple[Dashboard, str]:
    corrupted, panel = _with_panel(dashboard, "timeseries")
    panel["fieldConfig"]["defaults"]["custom"]["nullPointMode"] = "null"
    return corrupted, "panels[0].fieldConfig.defaults.custom.nullPointMode"


def _unknown_draw_style(dashboard: Dashboard) -> tuple[Dashboard, str]:
    corrupted, panel = _with_panel(dashboard, "timeseries")
    panel["fieldConfig"]["defaults"]["custom"]["drawStyle"] = "lines"
    return corrupted, "panels[0].fieldConfig.defaults.custom.drawStyle"


def _unknown_threshold_mode(dashboard: Dashboard) -> tuple[Dashboard, str]:
    corrupted, panel = _with_panel(dashboard, "bargauge")
    panel["fieldConfig"]["defaults"]["thresholds"]["mode"] = "fixed"
    return corrupted, "panels[0].fieldConfig.defaults.thresholds.mode"


# Each function returns a corrupted dashboard and the JSON path tsc must report.
CORRUPTIONS: dict[str, Callable[[Dashboard], tuple[Dashboard, str]]] = {
    "panel-span": _panel_span,
    "string-datasource": _string_datasource,
    "graph-panel": _graph_panel,
    "dashboard-rows": _dashboard_rows,
    "string-schema-version": _string_schema_version,
    "singlestat-option": _singlestat_option,
    "stat-custom-field": _stat_custom_field,
    "graph-field-config": _graph_field_config,
    "unknown-draw-style": _unknown_draw_style,
    "unknown-threshold-mode": _unknown_threshold_mode,
}


def test_check_rejects_legacy_and_invalid_fields(
    dashboards: dict[str, Dashboard], tmp_path: Path
) -> None:
    base = dashboards["emergence-control-all-patterns.json"]
    corrupted: dict[str, Dashboard] = {}
    expected_paths: dict[str, str] = {}
    for name, corrupt in CORRUPTIONS.items():
        corrupted[f"{name}.json"], expected_paths[f"{name}.json"] = corrupt(base)

    errors = check_dashboards(corrupted, tmp_path)

    for name, expected_path in expected_paths.items():
        reported = [error for error in errors if error.dashboard == name]
        assert expected_path in [error.path for error in reported], (
            f"{name}: expected a tsc error at {expected_path}, got:\n"
            + ("\n".join(map(str, reported)) or "no error")
        )
