"""Metric profiles: where each abstract signal of a service comes from in real metrics.

A profile builds a vector selector per signal from the service's name and `match` labels; a
service may replace any single selector with its own in `signals`. A profile without a
source for a signal returns None, and the patterns that need it are left out for that
service with a warning.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from generator.promql import Matcher, Selector
from generator.spec.models import Profile, Signal

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


def _istio(signal: Signal, name: str, match: Mapping[str, str]) -> Selector | None:
    reporter = (Matcher("reporter", "=", "destination"),)
    if signal is Signal.REQUESTS:
        # The destination reporter counts every attempt that reaches the service, retries included.
        return Selector("istio_requests_total", reporter).with_matchers(
            _istio_match(name, match)
        )
    if signal is Signal.LATENCY:
        return Selector(
            "istio_request_duration_milliseconds_bucket", reporter
        ).with_matchers(_istio_match(name, match))
    if signal is Signal.RETRIES:
        # Callers' sidecars count retries per upstream cluster, which Istio names
        # outbound|<port>|<subset>|<service>.<namespace>.svc.cluster.local.
        namespace = match.get("destination_workload_namespace", "[^.]+")
        host = rf"outbound\|[0-9]+\|[^|]*\|{name}\.{namespace}\.svc\..+"
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


def _custom(signal: Signal, name: str, match: Mapping[str, str]) -> Selector | None:
    return None


PROFILES: dict[Profile, Callable[[Signal, str, Mapping[str, str]], Selector | None]] = {
    Profile.ISTIO: _istio,
    Profile.CUSTOM: _custom,
}


def profile_selector(
    profile: Profile, signal: Signal, name: str, match: Mapping[str, str]
) -> Selector | None:
    """Return the profile's selector for a signal of one service, or None when it has none."""
    return PROFILES[profile](signal, name, match)
