"""Metric profiles: where each abstract signal of a service comes from in real metrics.

A profile builds a vector selector per signal from the service's name and `match` labels; a
service may replace any single selector with its own in `signals`. A profile without a
source for a signal returns None, and the patterns that need it are left out for that
service with a warning.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from generator.promql import Matcher, Selector
from generator.spec.models import (
    CacheExporter,
    PoolExporter,
    Profile,
    Protocol,
    Runtime,
    Service,
    Signal,
)

# Deployment pods are named <deployment>-<replicaset hash>-<pod suffix>, StatefulSet pods
# <statefulset>-<ordinal>. Matching only these shapes keeps "cart" from also matching the
# pods of a "cart-redis" deployment.
POD_NAME_SUFFIX = r"-([a-z0-9]{6,10}-[a-z0-9]{5}|[0-9]+)"

# Istio's sidecar and the pause container are no part of the service's own CPU use.
NOT_APP_CONTAINERS = (
    Matcher("container", "!=", ""),
    Matcher("container", "!=", "POD"),
    Matcher("container", "!=", "istio-proxy"),
)


def _istio_match(name: str, match: Mapping[str, str]) -> dict[str, str]:
    return dict(match) if match else {"destination_workload": name}


def _pods(name: str, match: Mapping[str, str]) -> tuple[Matcher, ...]:
    matchers = [Matcher("pod", "=~", name + POD_NAME_SUFFIX)]
    namespace = match.get("destination_workload_namespace")
    if namespace:
        matchers.append(Matcher("namespace", "=", namespace))
    return tuple(matchers)


def _istio(signal: Signal, service: Service) -> Selector | None:
    name, match = service.name, service.match
    reporter = (Matcher("reporter", "=", "destination"),)
    if signal is Signal.REQUESTS:
        # The destination reporter counts every attempt that reaches the service, retries included.
        return Selector("istio_requests_total", reporter).with_matchers(
            _istio_match(name, match)
        )
    if signal is Signal.ERRORS:
        # gRPC failures travel with HTTP status 200 and a non-zero gRPC status.
        if service.protocol is Protocol.GRPC:
            failed = Matcher("grpc_response_status", "=~", "[1-9][0-9]*")
        else:
            failed = Matcher("response_code", "=~", "5..")
        return Selector("istio_requests_total", (*reporter, failed)).with_matchers(
            _istio_match(name, match)
        )
    if signal is Signal.LATENCY:
        return Selector(
            "istio_request_duration_milliseconds_bucket", reporter
        ).with_matchers(_istio_match(name, match))
    if signal is Signal.RETRIES:
        # Callers' sidecars count retries per upstream cluster, which Istio names
        # outbound|<port>|<subset>|<service>.<namespace>.svc.cluster.local.
        namespace = match.get("destination_workload_namespace")
        namespace_pattern = re.escape(namespace) if namespace else "[^.]+"
        host = rf"outbound\|[0-9]+\|[^|]*\|{name}\.{namespace_pattern}\.svc\..+"
        return Selector(
            "envoy_cluster_upstream_rq_retry", (Matcher("cluster_name", "=~", host),)
        )
    if signal is Signal.CPU_USAGE:
        return Selector(
            "container_cpu_usage_seconds_total", NOT_APP_CONTAINERS + _pods(name, match)
        )
    if signal is Signal.CPU_LIMIT:
        fixed = (
            Matcher("resource", "=", "cpu"),
            Matcher("container", "!=", "istio-proxy"),
        )
        return Selector(
            "kube_pod_container_resource_limits", fixed + _pods(name, match)
        )
    return None


def _custom(signal: Signal, service: Service) -> Selector | None:
    return None


PROFILES: dict[Profile, Callable[[Signal, Service], Selector | None]] = {
    Profile.ISTIO: _istio,
    Profile.CUSTOM: _custom,
}

# Seconds spent in garbage collection, as a counter, per runtime. Go's client reports only
# stop-the-world pauses, which understates the collector's CPU cost; Python's client and
# prometheus-net report collections without their time.
GC_METRICS: dict[Runtime, str] = {
    Runtime.GO: "go_gc_duration_seconds_sum",
    Runtime.JVM_MICROMETER: "jvm_gc_pause_seconds_sum",
    Runtime.JVM_PROMETHEUS: "jvm_gc_collection_seconds_sum",
    Runtime.DOTNET: "dotnet_gc_pause_time_seconds_total",
    Runtime.NODEJS: "nodejs_gc_duration_seconds_sum",
}

CACHE_METRICS: dict[CacheExporter, tuple[Selector, Selector]] = {
    CacheExporter.REDIS: (
        Selector("redis_keyspace_hits_total"),
        Selector("redis_keyspace_misses_total"),
    ),
    CacheExporter.MEMCACHED: (
        Selector(
            "memcached_commands_total",
            (Matcher("command", "=", "get"), Matcher("status", "=", "hit")),
        ),
        Selector(
            "memcached_commands_total",
            (Matcher("command", "=", "get"), Matcher("status", "=", "miss")),
        ),
    ),
}

# (open connections, maximum connections) per source. HikariCP names its gauges differently
# in its Micrometer tracker and in its own Prometheus collector.
POOL_METRICS: dict[PoolExporter, tuple[Selector, Selector]] = {
    PoolExporter.POSTGRES: (
        Selector("pg_stat_activity_count"),
        Selector("pg_settings_max_connections"),
    ),
    PoolExporter.HIKARICP_MICROMETER: (
        Selector("hikaricp_connections"),
        Selector("hikaricp_connections_max"),
    ),
    PoolExporter.HIKARICP_PROMETHEUS: (
        Selector("hikaricp_connections"),
        Selector("hikaricp_max_connections"),
    ),
    PoolExporter.OTEL: (
        Selector("db_client_connection_count"),
        Selector("db_client_connection_max"),
    ),
}


CONNECTION_LABELS = frozenset(
    {
        "datname",
        "state",
        "usename",
        "application_name",
        "backend_type",
        "wait_event",
        "wait_event_type",
        "db_client_connection_state",
    }
)


def _shared(signal: Signal, service: Service) -> Selector | None:
    """Signals every profile takes from the service's runtime, cache and database."""
    if signal is Signal.GC_TIME and service.runtime in GC_METRICS:
        return Selector(GC_METRICS[service.runtime], _pods(service.name, service.match))
    if signal in (Signal.CACHE_HITS, Signal.CACHE_MISSES) and service.cache is not None:
        hits, misses = CACHE_METRICS[service.cache.exporter]
        chosen = hits if signal is Signal.CACHE_HITS else misses
        return chosen.with_matchers(service.cache.match)
    if (
        signal in (Signal.DB_CONNECTIONS, Signal.DB_CONNECTIONS_MAX)
        and service.database is not None
    ):
        count, maximum = POOL_METRICS[service.database.exporter]
        if signal is Signal.DB_CONNECTIONS:
            return count.with_matchers(service.database.match)
        # The server-wide maximum has no per-connection labels such as datname or state,
        # so only the labels that identify the scrape target carry over to it.
        target = {
            k: v
            for k, v in service.database.match.items()
            if k not in CONNECTION_LABELS
        }
        return maximum.with_matchers(target)
    return None


def profile_selector(
    profile: Profile, signal: Signal, service: Service
) -> Selector | None:
    """Return the selector of a signal for one service, or None when nothing provides it."""
    return _shared(signal, service) or PROFILES[profile](signal, service)
