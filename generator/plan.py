"""A validated spec expanded into what the patterns read: one resolved view per service.

Thresholds and alert timing are merged (built-in default, then the spec's defaults, then the
service's own), signals are resolved to selectors, and the call graph is ordered, so no
pattern needs to know how the spec file spelt any of it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from generator.graph import callers_first, callers_of, coupled_pairs
from generator.naming import Names
from generator.profiles import profile_selector
from generator.promql import Selector, parse_selector
from generator.spec.checks import merge_thresholds
from generator.spec.loader import LoadedSpec
from generator.spec.models import (
    ALERT_FOR_DEFAULTS,
    KEEP_FIRING_FOR_DEFAULT,
    Capacity,
    PatternId,
    Signal,
    Spec,
)
from generator.spec.thresholds import default_thresholds

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlertTiming:
    for_seconds: int
    keep_firing_for_seconds: int


@dataclass(frozen=True)
class ServicePlan:
    """One service with every setting resolved."""

    index: int
    name: str
    team: str
    depends_on: tuple[str, ...]
    callers: tuple[str, ...]
    path_callers: tuple[str, ...]  # callers whose edge counts for path amplification
    capacity: Capacity | None
    selectors: dict[Signal, Selector]
    thresholds: dict[str, dict[str, float]]
    alerts: dict[PatternId, AlertTiming]
    disabled: frozenset[PatternId]
    max_connections: int | None = None  # the spec's Database.max_connections

    def has(self, *signals: Signal) -> bool:
        return all(signal in self.selectors for signal in signals)

    def threshold(self, signal: str, level: str) -> float:
        return self.thresholds[signal][level]


@dataclass(frozen=True)
class SystemPlan:
    """A whole spec, resolved: services in callers-first order and the pairs to correlate."""

    path: Path
    spec: Spec
    names: Names
    services: tuple[ServicePlan, ...]
    entry_services: tuple[str, ...]
    pairs: tuple[tuple[str, str], ...]
    warnings: list[str] = field(default_factory=list)
    by_name: dict[str, ServicePlan] = field(init=False, repr=False)
    paired: frozenset[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {s.name: s for s in self.services})
        object.__setattr__(
            self, "paired", frozenset(n for pair in self.pairs for n in pair)
        )

    @property
    def name(self) -> str:
        return self.spec.name

    def service(self, name: str) -> ServicePlan:
        return self.by_name[name]


def plan_system(loaded: LoadedSpec) -> SystemPlan:
    """Resolve every service of a validated spec."""
    spec = loaded.spec
    edges = {service.name: list(service.depends_on) for service in spec.services}
    callers = callers_of(edges)
    path_edges = {
        service.name: [
            d
            for d in service.depends_on
            if d not in service.path_amplification_excludes
        ]
        for service in spec.services
    }
    path_callers = callers_of(path_edges)
    order = {name: position for position, name in enumerate(callers_first(path_edges))}
    spec_thresholds = merge_thresholds(
        default_thresholds(), spec.defaults.thresholds.model_dump(exclude_none=True)
    )
    warnings: list[str] = list(loaded.warnings)
    services = []
    for index, service in enumerate(spec.services):
        selectors = {}
        profile = service.profile or spec.defaults.profile
        for signal in Signal:
            if signal in service.signals:
                selectors[signal] = parse_selector(service.signals[signal])
                continue
            selector = profile_selector(profile, signal, service)
            if selector is not None:
                selectors[signal] = selector
        alerts = {}
        for pattern in PatternId:
            own = getattr(service.alerts, pattern.value)
            shared = getattr(spec.defaults.alerts, pattern.value)
            for_ = _first(
                own and own.for_, shared and shared.for_, ALERT_FOR_DEFAULTS[pattern]
            )
            keep = _first(
                own and own.keep_firing_for,
                shared and shared.keep_firing_for,
                KEEP_FIRING_FOR_DEFAULT,
            )
            alerts[pattern] = AlertTiming(for_, keep)
        services.append(
            ServicePlan(
                index=index,
                name=service.name,
                team=service.team or spec.defaults.team,
                depends_on=tuple(service.depends_on),
                callers=tuple(callers[service.name]),
                path_callers=tuple(path_callers[service.name]),
                capacity=service.capacity,
                selectors=selectors,
                thresholds=merge_thresholds(
                    spec_thresholds, service.thresholds.model_dump(exclude_none=True)
                ),
                alerts=alerts,
                disabled=frozenset(service.disable),
                max_connections=(
                    service.database.max_connections if service.database else None
                ),
            )
        )
    services.sort(key=lambda s: order[s.name])

    entries = spec.synchronisation.entry_services or [
        s.name for s in services if not s.callers
    ]
    with_requests = [s.name for s in services if Signal.REQUESTS in s.selectors]
    # With one entry service its traffic is the shared driver itself: its partial
    # correlation with anything is undefined, so it takes part in no pair.
    pairable = [
        s.name
        for s in services
        if s.has(Signal.REQUESTS)
        and PatternId.SYNCHRONISATION not in s.disabled
        and not (len(entries) == 1 and s.name in entries)
    ]
    pairs = coupled_pairs(
        pairable,
        edges,
        spec.synchronisation.groups.values(),
        spec.synchronisation.all_pairs_max_services,
    )
    entry_with_requests = tuple(sorted(e for e in entries if e in with_requests))
    if pairs and not entry_with_requests:
        by_name = {s.name: s for s in services}
        paired = [by_name[name] for name in sorted({n for pair in pairs for n in pair})]
        excludes = any(s.path_amplification_excludes for s in spec.services)
        message = _no_entry_traffic(
            loaded.path, paired, [by_name[name] for name in entries], excludes
        )
        log.warning("%s", message)
        warnings.append(message)
    names = Names(
        spec.windows.short,
        spec.windows.rate,
        spec.windows.trend,
        spec.windows.correlation,
        spec.windows.baseline,
    )
    return SystemPlan(
        path=loaded.path,
        spec=spec,
        names=names,
        services=tuple(services),
        entry_services=entry_with_requests,
        pairs=tuple(pairs) if entry_with_requests else (),
        warnings=warnings,
    )


def list_services(services: Iterable[ServicePlan], limit: int = 10) -> str:
    """Return the services as "services[INDEX] 'NAME'" in spec order: the first `limit`,
    then how many more there are."""
    ordered = sorted(services, key=lambda s: s.index)
    names = ", ".join(f"services[{s.index}] {s.name!r}" for s in ordered[:limit])
    more = f" and {len(ordered) - limit} more" if len(ordered) > limit else ""
    return names + more


def _no_entry_traffic(
    path: Path,
    paired: Iterable[ServicePlan],
    entries: list[ServicePlan],
    excludes: bool,
) -> str:
    """Return the warning for synchronisation pairs dropped because no entry service has
    a request rate, which the partial correlations control for as the shared driver.
    `excludes` is True when the spec leaves any call out of path amplification."""
    listed = "synchronisation.entry_services"
    if len(entries) == 1:
        cause = f"the entry service {list_services(entries)} has no requests signal"
        fix = (
            f"set requests under its signals, or list other entry services in {listed}"
        )
    elif entries:
        cause = f"the entry services {list_services(entries)} have no requests signal"
        fix = f"set requests under their signals, or list other entries in {listed}"
    else:
        cause = "every service has a caller, so there is no entry service"
        if excludes:
            cause += " (calls left out by path_amplification_excludes still count)"
        fix = f"list the services whose traffic drives the system in {listed}"
    return (
        f"{path}: pattern synchronisation left out for {list_services(paired)}: its "
        "partial correlations control for the request rate of the entry services, and "
        f"{cause}; {fix}, with a requests signal each"
    )


def _first(*values: int | None) -> int:
    return next(value for value in values if value is not None)
