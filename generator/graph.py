"""The dependency graph of a spec: cycles, topological order, callers and pairs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from graphlib import CycleError, TopologicalSorter
from itertools import combinations


def find_cycle(edges: Mapping[str, Iterable[str]]) -> list[str] | None:
    """Return one cycle as [a, b, ..., a] following depends_on edges, or None."""
    try:
        TopologicalSorter({node: set(deps) for node, deps in edges.items()}).prepare()
    except CycleError as exc:
        # graphlib lists the cycle against the edge direction it was given (dependency
        # first); reverse it so it reads caller -> dependency, as depends_on does.
        cycle = list(exc.args[1])
        return list(reversed(cycle))
    return None


def callers_first(edges: Mapping[str, Iterable[str]]) -> list[str]:
    """Order services so that every caller comes before its dependencies.

    Ties are broken by name, so the order is the same on every run.
    """
    callees: dict[str, set[str]] = {node: set() for node in edges}
    for caller, deps in edges.items():
        for dep in deps:
            callees.setdefault(dep, set()).add(caller)
    sorter = TopologicalSorter(callees)
    sorter.prepare()
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        order.extend(ready)
        sorter.done(*ready)
    return order


def callers_of(edges: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """Return each service's callers, sorted by name."""
    result: dict[str, list[str]] = {node: [] for node in edges}
    for caller, deps in edges.items():
        for dep in deps:
            result.setdefault(dep, []).append(caller)
    return {node: sorted(callers) for node, callers in result.items()}


def coupled_pairs(
    services: list[str],
    edges: Mapping[str, Iterable[str]],
    groups: Iterable[Iterable[str]],
    all_pairs_max: int,
) -> list[tuple[str, str]]:
    """Choose the pairs of services to correlate, each as (a, b) with a < b.

    Up to `all_pairs_max` services every pair; beyond that the call graph's edges, siblings
    sharing a caller and the pairs inside named groups, so the count grows with the edges
    and fan-outs of the graph instead of with the square of the services.
    """
    if len(services) <= all_pairs_max:
        return list(combinations(sorted(services), 2))
    chosen: set[tuple[str, str]] = set()
    for caller, deps in edges.items():
        deps = sorted(set(deps))
        chosen.update(_ordered(caller, dep) for dep in deps)
        chosen.update(combinations(deps, 2))
    for group in groups:
        chosen.update(combinations(sorted(set(group)), 2))
    allowed = set(services)
    return sorted(pair for pair in chosen if pair[0] in allowed and pair[1] in allowed)


def _ordered(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)
