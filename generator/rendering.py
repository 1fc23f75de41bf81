"""Jinja rendering of the PromQL templates under rules/, with a context per service.

Templates use StrictUndefined, so a misspelt name fails at generation instead of reaching
Prometheus as broken PromQL.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from generator import naming
from generator.durations import format_duration
from generator.plan import ServicePlan, SystemPlan
from generator.promql import number, quote
from generator.spec.models import Signal


def rules_dir() -> Path:
    """Return the folder of PromQL templates: inside the package when installed from a
    wheel, else the repository's top-level rules/."""
    packaged = Path(__file__).parent / "rules"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "rules"


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(rules_dir()),
        # Templates do not change during a run, so skip the modification check per call.
        auto_reload=False,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        autoescape=False,
    )


def render(template: str, context: dict[str, Any]) -> str:
    """Render one template to PromQL, without blank lines or trailing spaces."""
    text = environment().get_template(template).render(context)
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return "\n".join(line for line in lines if line)


def system_context(plan: SystemPlan) -> dict[str, Any]:
    """Return the names every template of this system may use."""
    spec = plan.spec
    system_q = quote(plan.name)

    def sys(series: str) -> str:
        return f"{series}{{system={system_q}}}"

    def of(series: str, service: str) -> str:
        return f"{series}{{system={system_q}, service={quote(service)}}}"

    return {
        "n": plan.names,
        "system_q": system_q,
        "sys": sys,
        "of": of,
        "entries": plan.entry_services,
        "min_samples": spec.synchronisation.min_samples,
        "w": {
            "short": format_duration(spec.windows.short),
            "rate": format_duration(spec.windows.rate),
            "trend": format_duration(spec.windows.trend),
            "correlation": format_duration(spec.windows.correlation),
            "baseline": format_duration(spec.windows.baseline),
            "calm": format_duration(spec.windows.calm),
            "lookback": format_duration(spec.windows.lookback),
            "evaluation": format_duration(spec.evaluation_interval),
        },
    }


def service_context(
    plan: SystemPlan, service: ServicePlan, base: dict[str, Any]
) -> dict[str, Any]:
    """Extend the system context with one service's selectors, thresholds and settings."""
    system_q = base["system_q"]
    service_q = quote(service.name)

    def own(series: str) -> str:
        return f"{series}{{system={system_q}, service={service_q}}}"

    def threshold(signal: str, level: str) -> str:
        if level not in service.thresholds.get(signal, {}):
            raise KeyError(f"no threshold {signal}.{level}")
        return (
            f"{naming.THRESHOLD}{{system={system_q}, service={service_q}, "
            f"signal={quote(signal)}, level={quote(level)}}}"
        )

    capacity = service.capacity
    rps = capacity.requests_per_second if capacity else None
    cpu_limit_cores = capacity.cpu_limit_cores if capacity else None
    return {
        **base,
        "service": service,
        "own": own,
        "threshold": threshold,
        "sel": {
            signal.value: selector.render()
            for signal, selector in service.selectors.items()
        },
        "rps": number(rps) if rps and service.has(Signal.REQUESTS) else None,
        "cpu": has_cpu_load(service),
        "cpu_limit_cores": number(cpu_limit_cores) if cpu_limit_cores else None,
    }


def has_cpu_load(service: ServicePlan) -> bool:
    """Return whether the service's CPU share can be computed, which needs its usage and
    a limit from the spec or from kube-state-metrics."""
    if not service.has(Signal.CPU_USAGE):
        return False
    limit_given = (
        service.capacity is not None and service.capacity.cpu_limit_cores is not None
    )
    return limit_given or service.has(Signal.CPU_LIMIT)


def has_load(service: ServicePlan) -> bool:
    """Return whether any load ratio can be computed for the service."""
    rps = (
        service.capacity is not None
        and service.capacity.requests_per_second is not None
    )
    return (rps and service.has(Signal.REQUESTS)) or has_cpu_load(service)
