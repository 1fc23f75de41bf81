"""Rules that span several fields of a valid-looking spec: references, cycles, level order.

Each check returns findings with the path of the offending value, so the loader can place
them in the file like the model's own errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from generator.durations import format_duration
from generator.graph import find_cycle
from generator.spec.models import ALERT_FOR_DEFAULTS, Defaults, PatternId, Spec
from generator.spec.thresholds import LEVEL_ORDER, default_thresholds
from generator.spec.yaml_nodes import Path_, format_field_path


@dataclass(frozen=True)
class Finding:
    path: Path_
    message: str
    hint: str = ""
    at_key: bool = False
    fallback: Path_ = ()
    """Where to point instead when `path` is a default that the file does not contain."""


@dataclass
class _ServiceRefs:
    name: str | None
    depends_on: list[str]
    path_amplification_excludes: list[str]
    team: str | None
    disable: list[str] = field(default_factory=list)


@dataclass
class _Sync:
    entry_services: list[str]
    groups: dict[str, list[str]]


@dataclass
class _Defaults:
    team: str


@dataclass
class ReferenceView:
    """The names, references and name lists of a spec, read leniently from the raw YAML
    data, so the reference checks run even when other values of the file are invalid."""

    services: list[_ServiceRefs] = field(default_factory=list)
    teams: list[str] | None = None
    grafana_tags: list[str] = field(default_factory=list)
    defaults: _Defaults = field(default_factory=lambda: _Defaults(DEFAULT_TEAM))
    synchronisation: _Sync = field(default_factory=lambda: _Sync([], {}))


DEFAULT_TEAM = Defaults.model_fields["team"].default


def reference_view(data: Any) -> ReferenceView:
    """Read service names, dependencies, teams and synchronisation references from raw
    data, skipping anything of the wrong type (the model reports those)."""
    view = ReferenceView()
    if not isinstance(data, dict):
        return view
    for item in _list(data.get("services")):
        item = item if isinstance(item, dict) else {}
        view.services.append(
            _ServiceRefs(
                name=_text(item.get("name")),
                depends_on=_texts(item.get("depends_on")),
                path_amplification_excludes=_texts(
                    item.get("path_amplification_excludes")
                ),
                team=_text(item.get("team")),
                disable=_texts(item.get("disable")),
            )
        )
    teams = data.get("teams")
    view.teams = _texts(teams) if isinstance(teams, list) else None
    grafana = data.get("grafana")
    if isinstance(grafana, dict):
        view.grafana_tags = _texts(grafana.get("tags"))
    defaults = data.get("defaults")
    if isinstance(defaults, dict) and _text(defaults.get("team")):
        view.defaults = _Defaults(_text(defaults.get("team")) or DEFAULT_TEAM)
    sync = data.get("synchronisation")
    if isinstance(sync, dict):
        groups = sync.get("groups")
        view.synchronisation = _Sync(
            _texts(sync.get("entry_services")),
            {str(k): _texts(v) for k, v in groups.items()}
            if isinstance(groups, dict)
            else {},
        )
    return view


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _texts(value: Any) -> list[str]:
    # Positions must stay those of the file, so wrong-typed items become "" and are skipped.
    return [item if isinstance(item, str) else "" for item in _list(value)]


def check_references(view: ReferenceView) -> list[Finding]:
    """Return errors in service names and references: duplicates, unknown names, cycles,
    and entries repeated within one list."""
    return (
        _check_service_names(view)
        + _check_references(view)
        + _check_repeated_entries(view)
        + _check_cycles(view)
    )


def check_spec(spec: Spec) -> tuple[list[Finding], list[Finding]]:
    """Return (errors, warnings) for the level order and the windows of a valid spec."""
    errors: list[Finding] = []
    warnings: list[Finding] = []
    errors += _check_threshold_order(spec)
    window_errors, window_warnings = _check_windows(spec)
    metastable_errors, metastable_warnings = _check_metastable_windows(spec)
    errors += window_errors + metastable_errors
    warnings += window_warnings + metastable_warnings
    errors += _check_evaluation_steps(spec)
    warnings += _check_cascade_reach(spec)
    return errors, warnings


def _check_cascade_reach(spec: Spec) -> list[Finding]:
    """Warn where a spec sets cascade.dependencies above the number of a service's
    dependencies, so its cascade alert could never fire and is left out. Services with one
    dependency under the built-in level of 2 are common and get no warning."""
    if spec.defaults.thresholds.cascade is None and all(
        service.thresholds.cascade is None for service in spec.services
    ):
        return []
    shared = merge_thresholds(
        default_thresholds(), spec.defaults.thresholds.model_dump(exclude_none=True)
    )
    findings = []
    for index, service in enumerate(spec.services):
        if not service.depends_on or "cascade" in service.disable:
            continue
        if (
            spec.defaults.thresholds.cascade is None
            and service.thresholds.cascade is None
        ):
            continue  # the built-in level, which the docstring exempts
        own = merge_thresholds(shared, service.thresholds.model_dump(exclude_none=True))
        needed = own["cascade"]["dependencies"]
        if len(service.depends_on) < needed:
            findings.append(
                Finding(
                    ("services", index, "depends_on"),
                    f"{service.name!r} has {len(service.depends_on)} dependencies but "
                    f"cascade.dependencies is {needed:g}, so it gets no cascade alert",
                    "lower cascade.dependencies for this service, or disable cascade",
                )
            )
    return findings


def _check_evaluation_steps(spec: Spec) -> list[Finding]:
    """Windows and alert durations must be whole evaluation intervals: Prometheus only
    evaluates at those steps, so a `for: 7s` acts as 15s and the generated tests, which
    count steps, would expect something else."""
    step = spec.evaluation_interval
    if step <= 0:
        return []
    findings = []
    candidates: list[tuple[Path_, int]] = [
        (("windows", name), getattr(spec.windows, name))
        for name in type(spec.windows).model_fields
    ]
    scopes: list[tuple[Path_, Any]] = [(("defaults", "alerts"), spec.defaults.alerts)]
    scopes += [
        (("services", i, "alerts"), s.alerts) for i, s in enumerate(spec.services)
    ]
    for path, settings in scopes:
        for pattern, timing in settings:
            if timing is None:
                continue
            for key, value in (
                ("for", timing.for_),
                ("keep_firing_for", timing.keep_firing_for),
            ):
                if value is not None:
                    candidates.append(((*path, pattern, key), value))
    for path, seconds in candidates:
        if seconds % step:
            findings.append(
                Finding(
                    path,
                    f"{format_duration(seconds)} is not a whole number of evaluation "
                    f"intervals of {format_duration(step)}",
                    f"use a multiple of {format_duration(step)}, such as "
                    f"{format_duration(max(step, seconds // step * step))}",
                    fallback=("evaluation_interval",),
                )
            )
    return findings


def _check_service_names(spec: ReferenceView) -> list[Finding]:
    seen: dict[str, int] = {}
    findings = []
    for index, service in enumerate(spec.services):
        if not service.name:
            continue
        if service.name in seen:
            findings.append(
                Finding(
                    ("services", index, "name"),
                    f"duplicate service {service.name!r}",
                    f"services[{seen[service.name]}] already uses this name; rename one of them",
                )
            )
        seen.setdefault(service.name, index)
    return findings


def _check_references(spec: ReferenceView) -> list[Finding]:
    names = {service.name for service in spec.services if service.name}
    choices = _choices(sorted(names))
    findings = []
    for index, service in enumerate(spec.services):
        for position, dependency in enumerate(service.depends_on):
            where = ("services", index, "depends_on", position)
            if not dependency or not service.name:
                continue
            if dependency not in names:
                findings.append(
                    Finding(where, f"unknown service {dependency!r}", choices)
                )
            elif dependency == service.name:
                findings.append(Finding(where, f"{service.name!r} depends on itself"))
        for position, excluded in enumerate(service.path_amplification_excludes):
            if excluded and excluded not in service.depends_on:
                findings.append(
                    Finding(
                        ("services", index, "path_amplification_excludes", position),
                        f"{excluded!r} is not in depends_on of {service.name!r}",
                        "list only dependencies of this service: "
                        + (", ".join(service.depends_on) or "it has none"),
                    )
                )
        if (
            spec.teams is not None
            and service.team is not None
            and service.team not in spec.teams
        ):
            findings.append(
                Finding(
                    ("services", index, "team"),
                    f"unknown team {service.team!r}",
                    _choices(spec.teams),
                )
            )
    uses_default_team = any(service.team is None for service in spec.services)
    if (
        spec.teams is not None
        and uses_default_team
        and spec.defaults.team not in spec.teams
    ):
        findings.append(
            Finding(
                ("defaults", "team"),
                f"unknown team {spec.defaults.team!r}",
                _choices(spec.teams),
            )
        )
    sync = spec.synchronisation
    for position, entry in enumerate(sync.entry_services or []):
        if entry and entry not in names:
            findings.append(
                Finding(
                    ("synchronisation", "entry_services", position),
                    f"unknown service {entry!r}",
                    choices,
                )
            )
    for group, members in sync.groups.items():
        for position, member in enumerate(members):
            if member and member not in names:
                findings.append(
                    Finding(
                        ("synchronisation", "groups", group, position),
                        f"unknown service {member!r}",
                        choices,
                    )
                )
    return findings


def _check_repeated_entries(spec: ReferenceView) -> list[Finding]:
    """Return an error for each entry that repeats an earlier entry of its list. A repeated
    dependency, for example, would record its call edge twice and match the caller twice in
    the path amplification regex."""
    findings = []
    for path, kind, entries in _unique_lists(spec):
        first: dict[str, int] = {}
        for position, entry in enumerate(entries):
            if not entry:
                continue
            if entry in first:
                listed = format_field_path((*path, first[entry]))
                findings.append(
                    Finding(
                        (*path, position),
                        f"duplicate {kind} {entry!r}",
                        f"{listed} already lists {entry!r}; remove this entry",
                    )
                )
            first.setdefault(entry, position)
    return findings


def _unique_lists(spec: ReferenceView) -> list[tuple[Path_, str, list[str]]]:
    """Return each list whose entries must differ: its path, what an entry is, the entries."""
    lists: list[tuple[Path_, str, list[str]]] = []
    for index, service in enumerate(spec.services):
        path: Path_ = ("services", index)
        lists.append(((*path, "depends_on"), "service", service.depends_on))
        excludes = service.path_amplification_excludes
        lists.append(((*path, "path_amplification_excludes"), "service", excludes))
        lists.append(((*path, "disable"), "pattern", service.disable))

    sync = spec.synchronisation
    entries = sync.entry_services
    lists.append((("synchronisation", "entry_services"), "service", entries))
    for group, members in sync.groups.items():
        lists.append((("synchronisation", "groups", group), "service", members))

    lists.append((("teams",), "team", spec.teams or []))
    lists.append((("grafana", "tags"), "tag", spec.grafana_tags))
    return lists


def _check_cycles(spec: ReferenceView) -> list[Finding]:
    names = {service.name for service in spec.services if service.name}
    edges: dict[str, list[str]] = {}
    for service in spec.services:
        if service.name and service.name not in edges:
            edges[service.name] = [
                dependency
                for dependency in service.depends_on
                if dependency in names
                and dependency != service.name
                and dependency not in service.path_amplification_excludes
            ]
    cycle = find_cycle(edges)
    if cycle is None:
        return []
    index = next(
        i for i, service in enumerate(spec.services) if service.name == cycle[-2]
    )
    position = spec.services[index].depends_on.index(cycle[-1])
    return [
        Finding(
            ("services", index, "depends_on", position),
            "dependency cycle " + " -> ".join(cycle),
            f"path amplification needs an acyclic call graph: add {cycle[-1]!r} to "
            f"path_amplification_excludes of {cycle[-2]!r}, or remove the dependency",
        )
    ]


def _check_threshold_order(spec: Spec) -> list[Finding]:
    builtin = default_thresholds()
    scopes: list[tuple[Path_, dict[str, dict[str, float]]]] = []
    spec_levels = _merge(
        builtin, spec.defaults.thresholds.model_dump(exclude_none=True)
    )
    scopes.append((("defaults", "thresholds"), spec_levels))
    for index, service in enumerate(spec.services):
        own = service.thresholds.model_dump(exclude_none=True)
        if own:
            scopes.append((("services", index, "thresholds"), _merge(spec_levels, own)))
    findings = []
    for path, levels in scopes:
        for signal, values in levels.items():
            ordered = [level for level in LEVEL_ORDER if level in values]
            for lower, upper in zip(ordered, ordered[1:], strict=False):
                if values[lower] > values[upper]:
                    findings.append(
                        Finding(
                            (*path, signal, lower),
                            f"{signal}.{lower} {values[lower]:g} is above "
                            f"{signal}.{upper} {values[upper]:g}",
                            f"{lower} must not exceed {upper}; lower {lower} or raise {upper}",
                        )
                    )
    return findings


def _check_windows(spec: Spec) -> tuple[list[Finding], list[Finding]]:
    errors, warnings = [], []
    scrape = spec.scrape_interval
    for path, seconds in (
        (("scrape_interval",), spec.scrape_interval),
        (("evaluation_interval",), spec.evaluation_interval),
    ):
        if seconds <= 0:
            errors.append(Finding(path, "the interval must be longer than 0s"))
    if scrape <= 0:
        return errors, warnings
    for name in (
        "short",
        "rate",
        "trend",
        "correlation",
        "baseline",
        "calm",
        "lookback",
    ):
        seconds = getattr(spec.windows, name)
        text, scrape_text = format_duration(seconds), format_duration(scrape)
        if seconds < 2 * scrape:
            errors.append(
                Finding(
                    ("windows", name),
                    f"window {text} is shorter than twice the scrape interval {scrape_text}",
                    f"use at least {format_duration(4 * scrape)} (four scrape intervals)",
                    fallback=("scrape_interval",),
                )
            )
        elif seconds < 4 * scrape:
            warnings.append(
                Finding(
                    ("windows", name),
                    f"window {text} holds fewer than four scrapes of {scrape_text}; "
                    "Prometheus 3 sees one sample fewer than 2.x",
                    fallback=("scrape_interval",),
                )
            )
    evaluation = spec.evaluation_interval
    if evaluation > 0:
        samples = spec.windows.correlation // evaluation
        if samples < spec.synchronisation.min_samples:
            errors.append(
                Finding(
                    ("windows", "correlation"),
                    f"window {format_duration(spec.windows.correlation)} holds {samples} "
                    f"evaluations of {format_duration(evaluation)}, fewer than "
                    f"synchronisation.min_samples {spec.synchronisation.min_samples}",
                    "lengthen the correlation window or lower min_samples",
                    fallback=("evaluation_interval",),
                )
            )
    return errors, warnings


def _check_metastable_windows(spec: Spec) -> tuple[list[Finding], list[Finding]]:
    """Return an error when the metastable alert can never hold and a warning per `for`
    time that keeps it from firing.

    The alert needs a load above its critical level within windows.lookback and below its
    warning level, which is lower, for all of windows.calm, so calm must be shorter. Its
    condition then holds for less than lookback minus calm, so a `for` that long never fires.
    """
    calm, lookback = spec.windows.calm, spec.windows.lookback
    if calm >= lookback:
        error = Finding(
            ("windows", "calm"),
            f"window calm {format_duration(calm)} is not shorter than lookback "
            f"{format_duration(lookback)}",
            "the metastable alert looks for an overload within lookback that ended "
            "more than calm ago; shorten calm or lengthen lookback",
            fallback=("windows", "lookback"),
        )
        return [error], []
    pattern = PatternId.METASTABLE.value
    shared = getattr(spec.defaults.alerts, pattern)
    places: dict[Path_, int] = {}
    for index, service in enumerate(spec.services):
        if PatternId.METASTABLE in service.disable:
            continue
        own = getattr(service.alerts, pattern)
        if own and own.for_ is not None:
            places[("services", index, "alerts", pattern, "for")] = own.for_
        elif shared and shared.for_ is not None:
            places[("defaults", "alerts", pattern, "for")] = shared.for_
        else:
            places[("windows", "lookback")] = ALERT_FOR_DEFAULTS[PatternId.METASTABLE]
    warnings = []
    for path, for_seconds in places.items():
        if calm + for_seconds >= lookback:
            warnings.append(
                Finding(
                    path,
                    f"the metastable alert never fires: for {format_duration(for_seconds)} "
                    f"and window calm {format_duration(calm)} add up to lookback "
                    f"{format_duration(lookback)} or more",
                    "shorten for or calm, or lengthen lookback",
                    fallback=("windows", "calm"),
                )
            )
    return [], warnings


def _merge(
    base: dict[str, dict[str, float]], override: dict[str, dict[str, float]]
) -> dict[str, dict[str, float]]:
    merged = {signal: dict(levels) for signal, levels in base.items()}
    for signal, levels in override.items():
        merged[signal].update(levels)
    return merged


def merge_thresholds(
    base: dict[str, dict[str, float]], override: dict[str, dict[str, float]]
) -> dict[str, dict[str, float]]:
    """Return `base` with the levels `override` sets replaced."""
    return _merge(base, override)


def _choices(names: list[str]) -> str:
    if not names:
        return ""
    shown = ", ".join(names[:20])
    more = f" and {len(names) - 20} more" if len(names) > 20 else ""
    return f"valid choices: {shown}{more}"
