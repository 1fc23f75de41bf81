"""Every recorded series, label, group and file name the generator writes.

Recorded series follow Prometheus' level:metric:operations convention. The window in an
operation name is the spec's window (rate5m for the default 5m rate window), so renaming a
window renames its series, as it must, since their values change.
"""

from __future__ import annotations

from generator.durations import format_duration

# Labels on every recorded series and alert.
SYSTEM = "system"
SERVICE = "service"
SERVICE_A = "service_a"
SERVICE_B = "service_b"
TEAM = "team"
PATTERN = "pattern"
SEVERITY = "severity"
SIGNAL = "signal"
LEVEL = "level"
DEPENDENCY = "dependency"

THRESHOLD = "service:emergence_threshold:constant"
DEPENDENCY_INFO = "service:emergence_dependency:info"
"""1 for each call edge: service calls dependency."""
PATTERN_INFO = "service:emergence_pattern:info"
"""1 for each pattern that has an alert for the service."""


class Names:
    """Recorded series names for one spec's windows."""

    def __init__(
        self, short: int, rate: int, trend: int, correlation: int, baseline: int = 3600
    ) -> None:
        s, r, t, c = (format_duration(w) for w in (short, rate, trend, correlation))
        b = format_duration(baseline)
        self.requests = f"service:requests:rate{r}"
        self.latency_bucket = f"service:latency_bucket:rate{r}"
        self.latency_p50 = f"service:latency_p50:rate{r}"
        self.latency_p99 = f"service:latency_p99:rate{r}"
        self.latency_ratio = f"service:latency_p99_p50:ratio_rate{r}"
        self.load = f"service:load:ratio_rate{r}"
        self.load_slope = f"service:load:deriv{t}"
        self.time_to_transition = f"service:time_to_phase_transition:seconds_deriv{t}"
        self.phase_state = f"service:phase_state:enum_rate{r}"
        self.retries = f"service:retries:rate{r}"
        self.retry_ratio = f"service:retry_ratio:rate{r}"
        self.retry_ratio_short = f"service:retry_ratio:rate{s}"
        self.retry_growth = f"service:retry_growth:ratio_rate{s}"
        self.amplification = f"service:retry_amplification:ratio_rate{r}"
        self.path_amplification = f"service:retry_path_amplification:ratio_rate{r}"
        self.requests_delta = f"service:requests:delta_rate{s}"
        self.entry_delta = f"system:entry_requests:delta_rate{s}"
        self.entry_product = f"service:requests_entry:product_delta_rate{s}"
        self.entry_correlation = f"service:requests_entry:correlation_delta_rate{s}_{c}"
        self.pair_product = f"pair:requests:product_delta_rate{s}"
        self.pair_correlation = f"pair:requests:correlation_delta_rate{s}_{c}"
        self.pair_partial = f"pair:requests:partial_correlation_delta_rate{s}_{c}"
        self.max_partial = f"service:requests:max_partial_correlation_delta_rate{s}_{c}"
        self.latency_ratio_slope = f"service:latency_p99_p50:deriv{t}"
        self.errors = f"service:errors:rate{r}"
        self.error_ratio = f"service:error_ratio:rate{r}"
        self.error_ratio_slope = f"service:error_ratio:deriv{t}"
        self.gc_time = f"service:gc_time:max_ratio_rate{r}"
        self.cache_misses = f"service:cache_misses:rate{r}"
        self.cache_miss_baseline = f"service:cache_misses:rate{b}_offset{r}"
        self.cache_miss_spike = f"service:cache_miss_spike:ratio_rate{r}"
        self.cache_hit_ratio = f"service:cache_hit_ratio:rate{r}"
        self.db_connections = "service:db_connections:sum"
        self.db_connection_ratio = "service:db_connections:ratio"
        self.likelihood = "service:pattern_likelihood:percent"
        self.risk = "service:emergence_risk:score"
        self.health = "service:emergence_health:enum"
        self.system_risk = "system:emergence_risk:score"
        self.system_health = "system:emergence_health:enum"


def alert_name(pattern: str, severity: str) -> str:
    """Return the alert name, e.g. EmergenceRetryStormCritical."""
    words = [word.capitalize() for word in pattern.split("_")] + [severity.capitalize()]
    return "Emergence" + "".join(words)


def group_name(system: str, part: str, chunk: int | None = None) -> str:
    """Return a rule group name such as emergence.shop.retry_storm.2."""
    name = f"emergence.{system}.{part}"
    return name if chunk is None else f"{name}.{chunk}"


def rules_file(part: str) -> str:
    return f"prometheus/rules/{part}.rules.yaml"


def tests_file(part: str) -> str:
    return f"prometheus/tests/{part}.test.yaml"
