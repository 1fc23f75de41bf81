"""Grafana dashboards and provisioning: out/<spec>/grafana/.

Two dashboards per spec, built with grafanalib: the Emergence control dashboard (the whole
system) and a service detail dashboard with a $service variable. Every query reads only
series the generated recording rules record, the threshold series, or ALERTS, so the
dashboards load fast and agree with the alerts. A panel whose series this spec records for
no service is replaced by a text panel that explains the gap.

grafanalib 0.7.1 writes schemaVersion 12 and fields of Grafana's old Angular panels
(span, height, fieldOptions in bar gauges, string datasources, graph threshold objects).
Grafana runs no migration on a dashboard that declares a current schemaVersion, so every
panel is reduced to the fields of the current JSON model and its field config and options
are written here.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import Any

from grafanalib import core as G
from grafanalib._gen import DashboardEncoder

from generator import naming, risk
from generator.bundle import Bundle
from generator.durations import format_duration
from generator.output import dump_json, dump_yaml
from generator.plan import SystemPlan
from generator.promql import quote
from generator.spec.checks import merge_thresholds
from generator.spec.models import PatternId
from generator.spec.thresholds import default_thresholds

SCHEMA_VERSION = 39
UID_MAX = 40
"""Grafana rejects longer dashboard UIDs, and a rejected dashboard fails to provision."""
CONTAINER_DASHBOARDS = "/var/lib/grafana/dashboards/emergence"
"""Mount point of out/<spec>/grafana/dashboards inside Grafana's container, as in the README."""
DATASOURCE_VAR = "datasource"
DATASOURCE = {"type": "prometheus", "uid": "${" + DATASOURCE_VAR + "}"}
WIDTH = 24

FIRING = 'alertstate="firing"'
ALERTNAMES = f"alertname=~{quote(risk.ALERT_NAMES)}"


def _state_mappings(healthy: str) -> tuple[dict[str, Any], ...]:
    """Return value mappings of a 0/1/2 state series: `healthy`, WARNING, CRITICAL."""
    texts = (healthy, "WARNING", "CRITICAL")
    return (
        {
            "type": "value",
            "options": {
                str(index): {"text": text, "color": colour, "index": index}
                for index, (text, colour) in enumerate(
                    zip(texts, ("green", "yellow", "red"), strict=True)
                )
            },
        },
    )


HEALTH_MAPPINGS = _state_mappings("HEALTHY")
PHASE_MAPPINGS = _state_mappings("OK")

LIKELIHOOD_PANELS = (
    PatternId.RETRY_STORM,
    PatternId.THUNDERING_HERD,
    PatternId.DEATH_SPIRAL,
    PatternId.SYNCHRONISATION,
)


@dataclass(frozen=True)
class Reading:
    """A stat panel of one recorded value: its series, unit and colouring."""

    title: str
    series: str  # a Names attribute
    unit: str = "none"
    mappings: tuple[dict[str, Any], ...] = ()  # value to text and colour
    signal: str | None = None  # coloured by this signal's warning and critical levels
    colour: str = "green"  # the one colour of a reading with no signal and no mappings
    bounds: tuple[float, float] | None = None
    system: bool = False  # one series for the system, with no service label


SYSTEM_HEALTH = Reading(
    "System health", "system_health", mappings=HEALTH_MAPPINGS, system=True
)
SYSTEM_RISK = Reading(
    "System risk score", "system_risk", signal="risk", bounds=(0, 100), system=True
)
HEALTH = Reading("Health", "health", mappings=HEALTH_MAPPINGS)
RISK = Reading("Risk score", "risk", signal="risk", bounds=(0, 100))
PHASE = Reading("Phase state", "phase_state", mappings=PHASE_MAPPINGS)
TIME_TO_TRANSITION = Reading(
    "Time to phase transition", "time_to_transition", "s", colour="blue"
)


@dataclass(frozen=True)
class Indicator:
    """A recorded series drawn over time, with the threshold signal that colours it."""

    series: str  # a Names attribute
    title: str
    unit: str
    signal: str | None = None  # threshold signal; None draws no levels
    levels: tuple[str, ...] = ("warning", "critical")


@dataclass(frozen=True)
class Colours:
    """A panel's threshold steps, and the per-series overrides of services whose own
    levels differ from the spec's defaults."""

    steps: list[dict[str, Any]]
    overrides: tuple[dict[str, Any], ...] = ()

    @classmethod
    def fixed(cls, colour: str) -> Colours:
        return cls([{"color": colour, "value": None}])


PLAIN = Colours.fixed("green")

CONTROL_INDICATORS = (
    Indicator("latency_ratio", "p99/p50 latency ratio", "suffix:x", "latency_ratio"),
    Indicator("retry_ratio", "Retry ratio", "percentunit", "retry_ratio"),
    Indicator("gc_time", "GC time, worst instance", "percentunit", "gc_time"),
    Indicator(
        "max_partial",
        "Maximum partial correlation",
        "none",
        "synchronisation",
    ),
)
# Why a control panel has no series: what no service of the spec has.
MISSING = {
    "latency_ratio": "no service has a latency histogram",
    "retry_ratio": "no service has a retry counter",
    "gc_time": "no service has a GC time signal",
    "max_partial": "synchronisation has no pair to correlate. A pair needs two services "
    "with request rates and synchronisation enabled, besides a lone entry service, and an "
    "entry service with request rates",
    "path_amplification": "no service has both a request and a retry counter",
    "load": "no service has a load signal: capacity.requests_per_second with request "
    "rates, or cpu_usage with a CPU limit, and phase_transition enabled",
}
# The phase transition rules record these together with the load.
MISSING["phase_state"] = MISSING["time_to_transition"] = MISSING["load"]

DETAIL_INDICATORS = (
    Indicator("requests", "Request rate", "reqps"),
    Indicator(
        "load",
        "Load ratio",
        "percentunit",
        "load",
        ("warning", "critical", "transition"),
    ),
    Indicator("latency_ratio", "p99/p50 latency ratio", "suffix:x", "latency_ratio"),
    Indicator("error_ratio", "Error ratio", "percentunit"),
    Indicator("retry_ratio", "Retry ratio", "percentunit", "retry_ratio"),
    Indicator("retry_growth", "Retry growth", "suffix:x", "retry_growth"),
    Indicator(
        "path_amplification",
        "Path amplification",
        "suffix:x",
        "retry_amplification",
        ("critical",),
    ),
    Indicator("max_partial", "Maximum partial correlation", "none", "synchronisation"),
    Indicator("gc_time", "GC time, worst instance", "percentunit", "gc_time"),
    Indicator("cache_miss_spike", "Cache miss spike", "suffix:x", "cache_miss_spike"),
    Indicator(
        "db_connection_ratio",
        "Database connections / maximum",
        "percentunit",
        "db_connections",
    ),
)

LEVEL_COLOURS = {
    "warning": "yellow",
    "critical": "red",
    "transition": "purple",
}

# Keys of the current panel model that grafanalib's output may keep; everything else it
# writes belongs to the Angular model or is null.
PANEL_KEYS = (
    "id",
    "type",
    "title",
    "description",
    "gridPos",
    "targets",
    "transformations",
    "links",
    "transparent",
)
TARGET_KEYS = ("expr", "legendFormat", "refId", "format", "instant")


def render(bundle: Bundle) -> dict[PurePosixPath, str]:
    """Return the two dashboards and the provisioning files of one spec."""
    view = View.of(bundle)
    files = {}
    for dashboard in (control_dashboard(view), service_dashboard(view)):
        name = f"grafana/dashboards/{dashboard['uid']}.json"
        files[PurePosixPath(name)] = dump_json(dashboard)
    files[PurePosixPath("grafana/provisioning/dashboards/emergence.yaml")] = dump_yaml(
        dashboard_provider(view.plan), _header(bundle)
    )
    files[PurePosixPath("grafana/provisioning/datasources/prometheus.yaml")] = (
        dump_yaml(datasource_provisioning(view.plan), _header(bundle))
    )
    return files


def _header(bundle: Bundle) -> str:
    return (
        f"# Grafana provisioning generated by emergence-ops from "
        f"{bundle.plan.path.name}; do not edit.\n"
    )


# --- what the spec records ---------------------------------------------------------------


@dataclass(frozen=True)
class View:
    """The parts of a bundle the dashboards need: names, recorded series, levels."""

    plan: SystemPlan
    recorded: frozenset[str]
    likelihoods: dict[PatternId, frozenset[str]]  # pattern: services with a likelihood
    levels: dict[str, dict[str, float]]
    recorders: dict[str, frozenset[str]]  # series name: services that record it

    @classmethod
    def of(cls, bundle: Bundle) -> View:
        plan = bundle.plan
        recorders: dict[str, set[str]] = {}
        for groups in bundle.rule_files.values():
            for group in groups:
                for rule in group.rules:
                    if rule.record is None:
                        continue
                    services = recorders.setdefault(rule.record, set())
                    if naming.SERVICE in rule.labels:
                        services.add(rule.labels[naming.SERVICE])
        coverage = risk.likelihood_coverage(plan, set(bundle.rule_files))
        return cls(
            plan=plan,
            recorded=frozenset(recorders),
            recorders={name: frozenset(s) for name, s in recorders.items()},
            likelihoods={
                pattern: frozenset(service.name for service in services)
                for pattern, services in coverage.items()
            },
            levels=merge_thresholds(
                default_thresholds(),
                plan.spec.defaults.thresholds.model_dump(exclude_none=True),
            ),
        )

    def name(self, series: str) -> str:
        return getattr(self.plan.names, series)

    def records(self, series: str) -> bool:
        return self.name(series) in self.recorded

    def select(
        self, series: str, regex: Mapping[str, str] | None = None, **matchers: str
    ) -> str:
        """Return a selector of a recorded series of this system (a Names attribute, or
        a full series name), with equality `matchers` and `regex` matchers."""
        name = getattr(self.plan.names, series, series)
        parts = [f"{naming.SYSTEM}={quote(self.plan.name)}"]
        parts += [f"{key}={quote(value)}" for key, value in matchers.items()]
        parts += [f"{key}=~{quote(value)}" for key, value in (regex or {}).items()]
        return f"{name}{{{', '.join(parts)}}}"

    def threshold(self, signal: str, level: str, service: str | None = None) -> str:
        matchers = {naming.SIGNAL: signal, naming.LEVEL: level}
        if service is not None:
            matchers = {naming.SERVICE: service, **matchers}
        return self.select(naming.THRESHOLD, **matchers)

    def colours(self, signal: str, levels: Sequence[str], series: str) -> Colours:
        """Return colour steps for the services that record `series` (a Names
        attribute). Where their levels agree, the steps are theirs. Where they differ,
        the steps are the spec's defaults, and each service with other levels gets an
        override matched by its series name."""
        return self._per_service(
            lambda thresholds: _steps(thresholds, signal, levels),
            self.recorders.get(self.name(series), frozenset()),
        )

    def system_colours(self, signal: str, levels: Sequence[str]) -> Colours:
        """Return colour steps from the lowest level any service sets, the levels the
        system's own rules compare with."""
        lowest = {
            level: min(s.thresholds[signal][level] for s in self.plan.services)
            for level in levels
            if all(level in s.thresholds[signal] for s in self.plan.services)
        }
        return Colours(_steps({signal: lowest}, signal, levels))

    def likelihood_colours(self, pattern: PatternId) -> Colours:
        return self._per_service(
            lambda thresholds: _likelihood_steps(thresholds, pattern),
            self.likelihoods.get(pattern, frozenset()),
        )

    def _per_service(
        self,
        steps_of: Callable[[dict[str, dict[str, float]]], list[dict[str, Any]]],
        names: frozenset[str],
    ) -> Colours:
        recording = [s for s in self.plan.services if s.name in names]
        distinct = {json.dumps(steps_of(s.thresholds)) for s in recording}
        if len(distinct) == 1:
            return Colours(steps_of(recording[0].thresholds))
        default = steps_of(self.levels)
        overrides = []
        for service in sorted(recording, key=lambda s: s.name):
            steps = steps_of(service.thresholds)
            if steps != default:
                overrides.append(
                    {
                        "matcher": {"id": "byName", "options": service.name},
                        "properties": [
                            {
                                "id": "thresholds",
                                "value": {"mode": "absolute", "steps": steps},
                            }
                        ],
                    }
                )
        return Colours(default, tuple(overrides))

    def alerts(self, service: str | None = None) -> str:
        matchers = [FIRING, ALERTNAMES, f"{naming.SYSTEM}={quote(self.plan.name)}"]
        if service is not None:
            matchers.append(f"{naming.SERVICE}={quote(service)}")
        return "ALERTS{" + ", ".join(matchers) + "}"


# --- UIDs and provisioning -------------------------------------------------------------


def dashboard_uid(spec_name: str, kind: str) -> str:
    """Return emergence-<kind>-<spec>, shortened by short_uid."""
    return short_uid(f"emergence-{kind}-{spec_name}")


def datasource_uid(spec_name: str) -> str:
    """Return emergence-<spec>, shortened by short_uid. Each spec gets its own datasource,
    so several specs, or a Grafana with a Prometheus datasource of its own, can share one
    Grafana."""
    return short_uid(f"emergence-{spec_name}")


def datasource_name(spec_name: str) -> str:
    return f"Prometheus ({spec_name})"


def short_uid(uid: str) -> str:
    """Return the UID, or, past 40 characters, a prefix of it ending in 8 hex digits of
    its SHA-256, so the UID stays stable and unique per spec."""
    if len(uid) <= UID_MAX:
        return uid
    digest = hashlib.sha256(uid.encode()).hexdigest()[:8]
    return f"{uid[: UID_MAX - len(digest) - 1].rstrip('-')}-{digest}"


def provisioned(value: str) -> str:
    """Return a value for a provisioning file. Grafana replaces $NAME and ${NAME} there
    with environment variables, and $$ with a literal $."""
    return value.replace("$", "$$")


def dashboard_provider(plan: SystemPlan) -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": f"emergence-{plan.name}",
                "orgId": 1,
                "folder": provisioned(plan.spec.grafana.folder),
                "type": "file",
                "disableDeletion": False,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 30,
                "options": {
                    "path": f"{CONTAINER_DASHBOARDS}/{plan.name}",
                    "foldersFromFilesStructure": False,
                },
            }
        ],
    }


def datasource_provisioning(plan: SystemPlan) -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": datasource_name(plan.name),
                "type": "prometheus",
                "uid": datasource_uid(plan.name),
                "access": "proxy",
                "url": provisioned(plan.spec.grafana.datasource_url),
                # Grafana rejects a provisioning file that marks a second default.
                "isDefault": False,
                "editable": False,
                "jsonData": {"timeInterval": f"{plan.spec.scrape_interval}s"},
            }
        ],
    }


# --- layout ---------------------------------------------------------------------------


class Grid:
    """Panel positions, left to right in rows of 24 columns. A panel that does not fit
    starts a new row below the tallest panel of the current one."""

    def __init__(self) -> None:
        self.x = 0
        self.y = 0
        self.row_height = 0

    def place(self, w: int, h: int) -> G.GridPos:
        if self.x + w > WIDTH:
            self.newline()
        pos = G.GridPos(h=h, w=w, x=self.x, y=self.y)
        self.x += w
        self.row_height = max(self.row_height, h)
        return pos

    def newline(self) -> None:
        self.y += self.row_height
        self.x = 0
        self.row_height = 0


# --- panels ---------------------------------------------------------------------------


def _target(
    expr: str, legend: str = "", ref: str = "A", instant: bool = False
) -> G.Target:
    return G.Target(
        expr=expr,
        legendFormat=legend,
        refId=ref,
        instant=instant,
        format="table" if instant else "time_series",
        datasource=DATASOURCE,
    )


def _targets(*queries: tuple[str, str]) -> list[G.Target]:
    return [
        _target(expr, legend, chr(ord("A") + i))
        for i, (expr, legend) in enumerate(queries)
    ]


def _json(obj: Any) -> dict[str, Any]:
    return json.loads(json.dumps(obj.to_json_data(), cls=DashboardEncoder))


def _current(
    raw: dict[str, Any],
    defaults: dict[str, Any],
    options: dict[str, Any],
    overrides: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """Keep the current-model fields of grafanalib's panel and set the field config,
    options and datasources of the current model."""
    panel = {key: raw[key] for key in PANEL_KEYS if raw.get(key) is not None}
    if not panel.get("description"):
        panel.pop("description", None)
    targets = []
    for raw_target in raw.get("targets", []):
        target = {key: raw_target[key] for key in TARGET_KEYS if key in raw_target}
        target["range"] = not target.get("instant", False)
        target["editorMode"] = "code"
        target["datasource"] = dict(DATASOURCE)
        targets.append(target)
    panel["targets"] = targets
    if targets:
        panel["datasource"] = dict(DATASOURCE)
    panel["fieldConfig"] = {"defaults": defaults, "overrides": list(overrides)}
    panel["options"] = options
    return panel


def _defaults(
    unit: str,
    steps: list[dict[str, Any]],
    custom: dict[str, Any] | None = None,
    mappings: list[dict[str, Any]] | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    colour: str = "thresholds",
) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "unit": unit,
        "color": {"mode": colour},
        "thresholds": {"mode": "absolute", "steps": steps},
        "mappings": mappings or [],
        "custom": custom or {},
    }
    if minimum is not None:
        defaults["min"] = minimum
    if maximum is not None:
        defaults["max"] = maximum
    return defaults


REDUCE_LAST = {"calcs": ["lastNotNull"], "fields": "", "values": False}


def timeseries(
    title: str,
    targets: list[G.Target],
    pos: G.GridPos,
    unit: str,
    colours: Colours,
    draw_levels: bool = True,
    description: str = "",
    overrides: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    raw = _json(
        G.TimeSeries(
            title=title,
            targets=targets,
            gridPos=pos,
            unit=unit,
            description=description,
        )
    )
    custom = {
        key: value
        for key, value in raw["fieldConfig"]["defaults"]["custom"].items()
        if value is not None
    }
    # Grafana keeps one set of thresholds per axis scale (UPlotConfigBuilder in
    # @grafana/ui), so where services' levels differ, each line is coloured by its own.
    per_service = bool(colours.overrides)
    bands = draw_levels and not per_service
    custom["thresholdsStyle"] = {"mode": "line+area" if bands else "off"}
    custom["stacking"] = {"group": "A", "mode": "none"}
    custom["scaleDistribution"] = {"type": "linear"}
    if per_service:
        custom["gradientMode"] = "scheme"
    return _current(
        raw,
        _defaults(
            unit,
            colours.steps,
            custom,
            colour="thresholds" if per_service else "palette-classic",
        ),
        {
            "legend": {
                "calcs": ["lastNotNull", "max"],
                "displayMode": "table",
                "placement": "right",
                "showLegend": True,
            },
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        [*colours.overrides, *(overrides or [])],
    )


def reading(
    view: View, item: Reading, pos: G.GridPos, description: str = "", **matchers: str
) -> dict[str, Any]:
    """Return the stat panel of a reading, over the series that `matchers` select, or a
    text panel where no rule records the series."""
    if not view.records(item.series):
        return _absent(view, item.title, pos, MISSING[item.series])
    levels = ("warning", "critical")
    if item.signal is None:
        colours = Colours.fixed(item.colour)
    elif item.system:
        colours = view.system_colours(item.signal, levels)
    else:
        colours = view.colours(item.signal, levels, item.series)
    low, high = item.bounds or (None, None)
    legend = "" if item.system else "{{service}}"
    return stat(
        item.title,
        _targets((view.select(item.series, **matchers), legend)),
        pos,
        item.unit,
        colours,
        list(item.mappings),
        description,
        minimum=low,
        maximum=high,
    )


def stat(
    title: str,
    targets: list[G.Target],
    pos: G.GridPos,
    unit: str,
    colours: Colours,
    mappings: list[dict[str, Any]] | None = None,
    description: str = "",
    minimum: float | None = None,
    maximum: float | None = None,
) -> dict[str, Any]:
    raw = _json(
        G.Stat(title=title, targets=targets, gridPos=pos, description=description)
    )
    return _current(
        raw,
        _defaults(
            unit, colours.steps, mappings=mappings, minimum=minimum, maximum=maximum
        ),
        {
            "colorMode": "background",
            "graphMode": "none",
            "justifyMode": "auto",
            "orientation": "auto",
            "reduceOptions": REDUCE_LAST,
            "textMode": "value_and_name",
            "wideLayout": True,
            "showPercentChange": False,
            "percentChangeColorMode": "standard",
        },
        colours.overrides,
    )


def bargauge(
    title: str,
    targets: list[G.Target],
    pos: G.GridPos,
    unit: str,
    colours: Colours,
    minimum: float | None = None,
    maximum: float | None = None,
    description: str = "",
) -> dict[str, Any]:
    raw = _json(
        G.BarGauge(title=title, targets=targets, gridPos=pos, description=description)
    )
    return _current(
        raw,
        _defaults(unit, colours.steps, minimum=minimum, maximum=maximum),
        {
            "displayMode": "gradient",
            "orientation": "horizontal",
            "reduceOptions": REDUCE_LAST,
            "showUnfilled": True,
            "valueMode": "color",
            "namePlacement": "auto",
            "sizing": "auto",
            "minVizHeight": 16,
            "minVizWidth": 8,
            "maxVizHeight": 300,
        },
        colours.overrides,
    )


def table(
    title: str,
    targets: list[G.Target],
    pos: G.GridPos,
    unit: str,
    colours: Colours,
    transformations: list[dict[str, Any]],
    cell: str = "auto",
    description: str = "",
    minimum: float | None = None,
    maximum: float | None = None,
    overrides: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    raw = _json(
        G.Table(
            title=title,
            targets=targets,
            gridPos=pos,
            transformations=transformations,
            description=description,
        )
    )
    custom = {
        "align": "auto",
        "cellOptions": {"type": cell},
        "inspect": False,
        "filterable": False,
    }
    return _current(
        raw,
        _defaults(unit, colours.steps, custom, minimum=minimum, maximum=maximum),
        {
            "showHeader": True,
            "cellHeight": "sm",
            "frameIndex": 0,
            "footer": {"show": False, "countRows": False, "reducer": []},
        },
        [*colours.overrides, *(overrides or [])],
    )


def text(title: str, content: str, pos: G.GridPos) -> dict[str, Any]:
    raw = _json(G.Text(title=title, content=content, gridPos=pos))
    panel = _current(raw, _defaults("none", [{"color": "green", "value": None}]), {})
    panel["options"] = {
        "mode": "markdown",
        "content": content,
        "code": {
            "language": "plaintext",
            "showLineNumbers": False,
            "showMiniMap": False,
        },
    }
    return panel


def _absent(view: View, title: str, pos: G.GridPos, reason: str) -> dict[str, Any]:
    return text(
        title,
        f"No rule of `{view.plan.name}` records this panel's series: {reason}.",
        pos,
    )


def _level_name(level: str) -> str:
    """Return the legend of a level line. It has a space, which no service name has, so a
    service's own series never takes a level line's style."""
    return f"{level} level"


def _level_overrides(levels: Iterable[str]) -> list[dict[str, Any]]:
    """Draw the threshold series of a service detail panel as dashed lines in the
    level's colour."""
    return [
        {
            "matcher": {"id": "byName", "options": _level_name(level)},
            "properties": [
                {
                    "id": "color",
                    "value": {"mode": "fixed", "fixedColor": LEVEL_COLOURS[level]},
                },
                {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
                {"id": "custom.fillOpacity", "value": 0},
            ],
        }
        for level in levels
    ]


# --- dashboards -----------------------------------------------------------------------


def control_dashboard(view: View) -> dict[str, Any]:
    """Build the Emergence control dashboard of the whole system."""
    plan = view.plan
    grid = Grid()
    panels: list[dict[str, Any]] = []
    add = panels.append

    add(reading(view, SYSTEM_HEALTH, grid.place(6, 4)))
    add(reading(view, SYSTEM_RISK, grid.place(6, 4)))
    add(
        text(
            "About",
            "Every panel reads series recorded by the emergence rules of "
            f"`{plan.name}`. Colours follow each service's own levels: the spec's "
            "defaults, and an override for every service whose levels differ. "
            "The service detail dashboard draws them as lines.",
            grid.place(12, 4),
        )
    )
    grid.newline()

    # Phase state.
    pos = grid.place(12, 8)
    if view.records("load"):
        add(
            timeseries(
                "Load against the phase transition",
                _targets((view.select("load"), "{{service}}")),
                pos,
                "percentunit",
                view.colours("load", ("warning", "critical", "transition"), "load"),
                description="Load ratio per service; the lines are the load warning, "
                "critical and transition levels.",
            )
        )
    else:
        add(_absent(view, "Load against the phase transition", pos, MISSING["load"]))
    add(reading(view, PHASE, grid.place(6, 8)))
    add(
        reading(
            view,
            TIME_TO_TRANSITION,
            grid.place(6, 8),
            description="Time until the load reaches its transition level at the "
            f"current {_window(plan.spec.windows.trend)} slope; no value while load "
            "is not rising.",
        )
    )
    grid.newline()

    # Emergence indicators.
    for indicator in CONTROL_INDICATORS:
        pos = grid.place(6, 8)
        if not view.records(indicator.series):
            add(_absent(view, indicator.title, pos, MISSING[indicator.series]))
            continue
        add(
            timeseries(
                indicator.title,
                _targets((view.select(indicator.series), "{{service}}")),
                pos,
                indicator.unit,
                view.colours(indicator.signal, indicator.levels, indicator.series),
            )
        )
    grid.newline()

    # Pattern likelihoods.
    for pattern in LIKELIHOOD_PANELS:
        title = f"Likelihood: {pattern.value.replace('_', ' ')}"
        pos = grid.place(6, 8)
        if pattern not in view.likelihoods:
            reason = f"no service has the signals of {pattern.value.replace('_', ' ')}"
            add(_absent(view, title, pos, reason))
            continue
        add(
            bargauge(
                title,
                _targets(
                    (
                        view.select("likelihood", **{naming.PATTERN: pattern.value}),
                        "{{service}}",
                    )
                ),
                pos,
                "percent",
                view.likelihood_colours(pattern),
                minimum=0,
                maximum=100,
            )
        )
    grid.newline()

    # Coupling matrix and feedback strength.
    pos = grid.place(12, 10)
    if view.records("pair_partial"):
        add(coupling_matrix(view, pos))
    else:
        add(_absent(view, "Service coupling matrix", pos, MISSING["max_partial"]))
    amplification = view.records("path_amplification")
    pos = grid.place(12, 10)
    if amplification:
        add(
            bargauge(
                "Path amplification now",
                _targets((view.select("path_amplification"), "{{service}}")),
                pos,
                "suffix:x",
                view.colours(
                    "retry_amplification", ("critical",), "path_amplification"
                ),
                minimum=1,
            )
        )
    else:
        reason = MISSING["path_amplification"]
        add(_absent(view, "Path amplification now", pos, reason))
    grid.newline()
    if amplification:
        amplifying = "|".join(
            re.escape(name)
            for name in sorted(view.recorders[view.name("path_amplification")])
        )
        levels = view.select(
            naming.THRESHOLD,
            regex={naming.SERVICE: amplifying},
            **{naming.SIGNAL: "retry_amplification", naming.LEVEL: "critical"},
        )
        runaway = f"max by ({naming.SYSTEM}) ({levels})"
        add(
            timeseries(
                "Path amplification against the runaway threshold",
                _targets(
                    (view.select("path_amplification"), "{{service}}"),
                    (runaway, "runaway threshold"),
                ),
                grid.place(12, 8),
                "suffix:x",
                PLAIN,
                draw_levels=False,
                overrides=_named_overrides("runaway threshold", "red"),
                description="The runaway threshold is the highest "
                "retry_amplification.critical level of the services whose path "
                "amplification is recorded.",
            )
        )
        trend = _window(plan.spec.windows.trend)
        add(
            timeseries(
                f"Path amplification change over {trend}",
                _targets(
                    (
                        f"delta({view.select('path_amplification')}[{trend}])",
                        "{{service}}",
                    )
                ),
                grid.place(12, 8),
                "suffix:x",
                PLAIN,
                draw_levels=False,
            )
        )
        grid.newline()

    # Risk and health.
    add(
        bargauge(
            "Risk score per service",
            _targets((view.select("risk"), "{{service}}")),
            grid.place(12, 8),
            "none",
            view.colours("risk", ("warning", "critical"), "risk"),
            minimum=0,
            maximum=100,
        )
    )
    add(reading(view, replace(HEALTH, title="Health per service"), grid.place(12, 8)))
    grid.newline()
    add(firing_alerts(view, view.alerts(), grid.place(24, 8)))

    uid = dashboard_uid(plan.name, "control")
    links = [_link("Service detail", dashboard_uid(plan.name, "service"))]
    return _dashboard(view, f"Emergence control: {plan.name}", uid, panels, [], links)


def coupling_matrix(view: View, pos: G.GridPos) -> dict[str, Any]:
    """Pairwise partial correlation, service_a in rows and service_b in columns."""
    return table(
        "Service coupling matrix",
        [_target(symmetric(view.select("pair_partial")), instant=True)],
        pos,
        "none",
        view.colours("synchronisation", ("warning", "critical"), "max_partial"),
        [
            {
                "id": "groupingToMatrix",
                "options": {
                    "rowField": naming.SERVICE_A,
                    "columnField": naming.SERVICE_B,
                    "valueField": "Value",
                    "emptyValue": "empty",
                },
            }
        ],
        cell="color-background",
        description="Partial correlation of each pair's request rate changes with the "
        "entry traffic removed. Each pair is recorded once and drawn on both sides of "
        "the diagonal.",
        minimum=-1,
        maximum=1,
    )


def symmetric(pairs: str) -> str:
    """Return the pair series together with a copy whose service_a and service_b are
    swapped, so the matrix has every pair in both its row and its column. The copy
    passes through a temporary label, which an empty replacement then removes."""
    a, b, tmp = quote(naming.SERVICE_A), quote(naming.SERVICE_B), quote("swap")
    swapped = pairs
    for target, source in ((tmp, a), (a, b), (b, tmp)):
        swapped = f'label_replace({swapped}, {target}, "$1", {source}, "(.*)")'
    swapped = f'label_replace({swapped}, {tmp}, "", {tmp}, ".*")'
    return f"{pairs} or {swapped}"


def firing_alerts(view: View, selector: str, pos: G.GridPos) -> dict[str, Any]:
    return table(
        "Firing emergence alerts",
        [_target(selector, instant=True)],
        pos,
        "none",
        PLAIN,
        [
            {
                "id": "organize",
                "options": {
                    "excludeByName": {
                        "Time": True,
                        "Value": True,
                        "__name__": True,
                        "alertstate": True,
                        naming.SYSTEM: True,
                    },
                    "indexByName": {
                        naming.SERVICE: 0,
                        "alertname": 1,
                        naming.SEVERITY: 2,
                        naming.PATTERN: 3,
                        naming.TEAM: 4,
                    },
                    "renameByName": {},
                },
            }
        ],
    )


def service_dashboard(view: View) -> dict[str, Any]:
    """Build one dashboard for every service, chosen with the $service variable."""
    plan = view.plan
    grid = Grid()
    panels: list[dict[str, Any]] = []
    add = panels.append
    service = "$service"
    for item in (HEALTH, RISK, PHASE, TIME_TO_TRANSITION):
        add(reading(view, item, grid.place(6, 4), service=service))
    grid.newline()
    for indicator in DETAIL_INDICATORS:
        if not view.records(indicator.series):
            continue
        queries = [(view.select(indicator.series, service=service), "{{service}}")]
        levels: tuple[str, ...] = ()
        if indicator.signal is not None:
            levels = tuple(
                level
                for level in indicator.levels
                if level in view.levels[indicator.signal]
            )
            queries += [
                (view.threshold(indicator.signal, level, service), _level_name(level))
                for level in levels
            ]
        add(
            timeseries(
                indicator.title,
                _targets(*queries),
                grid.place(12, 8),
                indicator.unit,
                PLAIN,
                draw_levels=False,
                overrides=_level_overrides(levels),
                description="Dashed lines: this service's levels, read from the "
                "recorded threshold series."
                if levels
                else "",
            )
        )
    if view.likelihoods:
        add(
            timeseries(
                "Pattern likelihoods",
                _targets((view.select("likelihood", service=service), "{{pattern}}")),
                grid.place(12, 8),
                "percent",
                PLAIN,
                draw_levels=False,
            )
        )
    grid.newline()
    add(firing_alerts(view, view.alerts(service), grid.place(12, 8)))
    grid.newline()
    for panel in topology_tables(view, grid):
        add(panel)

    uid = dashboard_uid(plan.name, "service")
    variable = {
        "name": "service",
        "label": "Service",
        "type": "query",
        "datasource": dict(DATASOURCE),
        "query": {
            "query": f"label_values({view.select('health')}, service)",
            "refId": "PrometheusVariableQueryEditor-VariableQuery",
        },
        "refresh": 1,
        "sort": 1,
        "includeAll": False,
        "multi": False,
        "hide": 0,
        "regex": "",
        "options": [],
    }
    links = [_link("Emergence control", dashboard_uid(plan.name, "control"))]
    return _dashboard(
        view,
        f"Emergence service detail: {plan.name}",
        uid,
        panels,
        [variable],
        links,
        service=service,
    )


def topology_tables(view: View, grid: Grid) -> list[dict[str, Any]]:
    """Return tables of the chosen service's dependencies, dependants and runbooks, read
    from the topology info series. Each name links to its service's detail or runbook."""
    detail = (
        f"/d/{dashboard_uid(view.plan.name, 'service')}?var-service=${{__value.raw}}"
        f"&var-{DATASOURCE_VAR}=${{{DATASOURCE_VAR}}}&${{__url_time_range}}"
    )
    runbook = (
        f"{view.plan.spec.runbook_base_url.rstrip('/')}/${{__value.raw}}#${{service}}"
    )
    # Title, info series, the label the selected service is matched on, the label
    # shown, and the link of each shown value.
    tables = (
        (
            "Depends on",
            naming.DEPENDENCY_INFO,
            naming.SERVICE,
            naming.DEPENDENCY,
            detail,
        ),
        (
            "Depended on by",
            naming.DEPENDENCY_INFO,
            naming.DEPENDENCY,
            naming.SERVICE,
            detail,
        ),
        ("Runbooks", naming.PATTERN_INFO, naming.SERVICE, naming.PATTERN, runbook),
    )
    panels = []
    for title, series, matched, column, url in tables:
        pos = grid.place(8, 8)
        if series in view.recorded:
            query = view.select(series, **{matched: "$service"})
            panels.append(_name_table(title, query, column, url, pos))
        else:
            panels.append(text(title, f"No service of {view.plan.name} has any.", pos))
    return panels


def _name_table(
    title: str, query: str, column: str, url: str, pos: G.GridPos
) -> dict[str, Any]:
    """Return a one-column table of the `column` label of an info series, each cell a
    link."""
    link = {"title": f"Open {column}", "url": url, "targetBlank": False}
    return table(
        title,
        [_target(query, instant=True)],
        pos,
        "none",
        PLAIN,
        [
            {
                "id": "filterFieldsByName",
                "options": {"include": {"names": [column]}},
            }
        ],
        overrides=[
            {
                "matcher": {"id": "byName", "options": column},
                "properties": [{"id": "links", "value": [link]}],
            }
        ],
    )


def _steps(
    thresholds: dict[str, dict[str, float]], signal: str, levels: Sequence[str]
) -> list[dict[str, Any]]:
    """Return steps that are green below the first level, then each level's colour from
    its value on."""
    steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
    for level in levels:
        if level in thresholds[signal]:
            steps.append(
                {"color": LEVEL_COLOURS[level], "value": thresholds[signal][level]}
            )
    return steps


def _likelihood_steps(
    thresholds: dict[str, dict[str, float]], pattern: PatternId
) -> list[dict[str, Any]]:
    """Yellow from the likelihood an indicator has at its warning level (the lowest one
    among the pattern's indicators), red at 100 %, where it reaches its critical level."""
    warnings = []
    for indicator in risk.INDICATORS[pattern]:
        levels = thresholds[indicator.signal]
        low, warn, high = (levels.get(k) for k in ("baseline", "warning", "critical"))
        if None not in (low, warn, high) and high > low:
            warnings.append(round(100 * (warn - low) / (high - low), 1))
    steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
    if warnings:
        steps.append({"color": "yellow", "value": min(warnings)})
    steps.append({"color": "red", "value": 100})
    return steps


def _named_overrides(name: str, colour: str) -> list[dict[str, Any]]:
    return [
        {
            "matcher": {"id": "byName", "options": name},
            "properties": [
                {"id": "color", "value": {"mode": "fixed", "fixedColor": colour}},
                {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
            ],
        }
    ]


def _window(seconds: int) -> str:
    return format_duration(seconds)


def _link(title: str, uid: str) -> dict[str, Any]:
    return {
        "title": title,
        "type": "link",
        "url": f"/d/{uid}",
        "icon": "dashboard",
        "keepTime": True,
        "includeVars": True,
        "asDropdown": False,
        "targetBlank": False,
        "tags": [],
        "tooltip": "",
    }


def _dashboard(
    view: View,
    title: str,
    uid: str,
    panels: list[dict[str, Any]],
    variables: list[dict[str, Any]],
    links: list[dict[str, Any]],
    service: str | None = None,
) -> dict[str, Any]:
    plan = view.plan
    for number, panel in enumerate(panels, start=1):
        panel["id"] = number
    tags = sorted({*plan.spec.grafana.tags, plan.name})
    raw = _json(
        G.Dashboard(
            title=title,
            uid=uid,
            tags=tags,
            timezone="browser",
            refresh="1m",
            editable=False,
        )
    )
    datasource_variable = {
        "name": DATASOURCE_VAR,
        "label": "Datasource",
        "type": "datasource",
        "query": "prometheus",
        # The provisioned datasource is not the default one, so it is chosen here.
        "current": {
            "text": datasource_name(plan.name),
            "value": datasource_uid(plan.name),
        },
        "hide": 0,
        "includeAll": False,
        "multi": False,
        "options": [],
        "refresh": 1,
        "regex": "",
    }
    annotation = {
        "name": "Emergence alerts",
        "datasource": dict(DATASOURCE),
        "enable": True,
        "hide": False,
        "iconColor": "red",
        "expr": view.alerts(service),
        "step": "1m",
        "titleFormat": "{{alertname}}",
        "textFormat": "{{service}}: {{pattern}} {{severity}}",
        "tagKeys": "service,pattern,severity",
        "useValueForTime": False,
    }
    builtin = {
        "builtIn": 1,
        "datasource": {"type": "grafana", "uid": "-- Grafana --"},
        "enable": True,
        "hide": True,
        "iconColor": "rgba(0, 211, 255, 1)",
        "name": "Annotations & Alerts",
        "type": "dashboard",
    }
    return {
        "uid": raw["uid"],
        "title": raw["title"],
        "tags": raw["tags"],
        "timezone": raw["timezone"],
        "refresh": raw["refresh"],
        "editable": raw["editable"],
        "graphTooltip": 1,
        "time": raw["time"],
        "timepicker": {"refresh_intervals": raw["timepicker"]["refresh_intervals"]},
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "id": None,
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "weekStart": "",
        "description": f"Generated by emergence-ops from {plan.path.name}; do not edit.",
        "links": links,
        "annotations": {"list": [builtin, annotation]},
        "templating": {"list": [datasource_variable, *variables]},
        "panels": panels,
    }
