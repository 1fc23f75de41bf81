"""Pydantic models of the spec file: what a user may write, with the design's defaults.

Every model forbids unknown keys, so a misspelt key is an error with a position rather than
a silently ignored setting. Cross-field rules (references, cycles, level order) live in
`generator.spec.checks`, because they need the whole spec.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    WithJsonSchema,
    create_model,
)

from generator.durations import format_duration, parse_duration
from generator.promql import parse_selector
from generator.spec.thresholds import SIGNALS, Kind, levels_of

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
API_VERSION = "emergence-ops/v1"


def _check_dns_label(value: str) -> str:
    if len(value) > 63 or not DNS_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a DNS-1123 label: use at most 63 lowercase letters, digits "
            "and '-', starting and ending with a letter or digit"
        )
    return value


def _check_label_name(value: str) -> str:
    if not LABEL_NAME.match(value) or value.startswith("__"):
        raise ValueError(
            f"{value!r} is not a Prometheus label name: use letters, digits and '_', "
            "not starting with a digit or '__'"
        )
    return value


def _parse_duration(value: Any) -> int:
    if not isinstance(value, str):
        raise ValueError(
            f"invalid duration {value!r}: write it as a string such as 30s or 5m"
        )
    return parse_duration(value)


# Unicode categories of the characters a one-line value must not contain: the C0 and C1
# controls (newline, tab, ...) and the line and paragraph separators.
CONTROL_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})
# The rule of _check_visible_text for editors that read the JSON Schema, in ECMAScript
# regex syntax.
VISIBLE_TEXT_SCHEMA_PATTERN = (
    r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*\S[^\x00-\x1f\x7f-\x9f\u2028\u2029]*$"
)


def _check_no_control_characters(value: str) -> None:
    found = next(
        (c for c in value if unicodedata.category(c) in CONTROL_CATEGORIES), None
    )
    if found is not None:
        raise ValueError(
            f"{value!r} contains the control character {found!r}: write it on one line "
            "without tabs or other control characters"
        )


def _check_visible_text(value: str) -> str:
    if not value.strip():
        raise ValueError(
            f"{value!r} is blank: write at least one character other than whitespace"
        )
    _check_no_control_characters(value)
    return value


RUNBOOK_URL = re.compile(r"^https?://[^\s?#]+$")

# Characters the runbook base URL must not contain, and why. The URL goes into every
# alert's runbook_url annotation, which alert receivers' templates turn into links, and
# into the data links of the Grafana dashboards.
RUNBOOK_URL_FORBIDDEN: tuple[tuple[Callable[[str], bool], str], ...] = (
    (
        lambda c: c == "$",
        "which Grafana expands as a variable ($name, ${...}) in data link URLs; "
        "write it as %24",
    ),
    (
        lambda c: c in "{}",
        "which Prometheus reads as template syntax ({{ ... }}) in alert annotations; "
        "write it as %7B or %7D",
    ),
    (
        lambda c: c in "\"'`" or c.isspace(),
        "which can end the link early in the HTML or Markdown that a receiver's template "
        "builds from runbook_url; percent-encode it (space %20, \" %22, ' %27, ` %60)",
    ),
)


def _check_runbook_url(value: str) -> str:
    _check_no_control_characters(value)
    for forbidden, reason in RUNBOOK_URL_FORBIDDEN:
        found = next((c for c in value if forbidden(c)), None)
        if found is not None:
            raise ValueError(
                f"{value!r} is not a runbook base URL: it contains {found!r}, {reason}"
            )
    if not RUNBOOK_URL.match(value):
        raise ValueError(
            f"{value!r} is not a runbook base URL: use http:// or https:// without spaces, "
            "query or fragment, since alerts append /<pattern>#<service>"
        )
    return value


def _check_selector(value: str) -> str:
    parse_selector(value)
    return value


DnsLabel = Annotated[str, AfterValidator(_check_dns_label)]
LabelName = Annotated[str, AfterValidator(_check_label_name)]
Duration = Annotated[
    int,
    BeforeValidator(_parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {"type": "string", "pattern": r"^(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?$"}
    ),
]
NonEmpty = Annotated[
    str,
    Field(min_length=1),
    AfterValidator(_check_visible_text),
    WithJsonSchema({"type": "string", "pattern": VISIBLE_TEXT_SCHEMA_PATTERN}),
]
"""A name shown to people (team, Grafana folder or tag): one line with a visible character."""
SelectorText = Annotated[str, AfterValidator(_check_selector)]


class StrictModel(BaseModel):
    # No setting is meaningful at infinity or NaN, and an infinite level would be written
    # into the rules and dashboards, where JSON has no way to say it.
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )


class Profile(StrEnum):
    """Where a service's signals come from unless it overrides them one by one."""

    ISTIO = "istio"
    CUSTOM = "custom"


class Runtime(StrEnum):
    """The language runtime of a service, which fixes its garbage collection metric."""

    GO = "go"
    JVM_MICROMETER = "jvm-micrometer"
    JVM_PROMETHEUS = "jvm-prometheus"
    DOTNET = "dotnet"
    NODEJS = "nodejs"
    PYTHON = "python"
    OTHER = "other"


class Signal(StrEnum):
    """An abstract input signal that a metric profile maps to real series."""

    REQUESTS = "requests"
    LATENCY = "latency"
    RETRIES = "retries"
    CPU_USAGE = "cpu_usage"
    CPU_LIMIT = "cpu_limit"
    ERRORS = "errors"
    GC_TIME = "gc_time"
    CACHE_HITS = "cache_hits"
    CACHE_MISSES = "cache_misses"
    DB_CONNECTIONS = "db_connections"
    DB_CONNECTIONS_MAX = "db_connections_max"


class PatternId(StrEnum):
    """The emergence patterns, as they appear in the `pattern` label of every alert."""

    LATENCY_RATIO = "latency_ratio"
    PHASE_TRANSITION = "phase_transition"
    RETRY_STORM = "retry_storm"
    RETRY_AMPLIFICATION = "retry_amplification"
    SYNCHRONISATION = "synchronisation"
    DEATH_SPIRAL = "death_spiral"
    THUNDERING_HERD = "thundering_herd"
    METASTABLE = "metastable"
    CASCADE = "cascade"
    SIGNAL_MISSING = "signal_missing"


ALERT_FOR_DEFAULTS: dict[PatternId, int] = {
    PatternId.LATENCY_RATIO: 300,
    PatternId.PHASE_TRANSITION: 300,
    PatternId.RETRY_STORM: 120,
    PatternId.RETRY_AMPLIFICATION: 300,
    PatternId.SYNCHRONISATION: 300,
    PatternId.DEATH_SPIRAL: 120,
    PatternId.THUNDERING_HERD: 300,
    PatternId.METASTABLE: 600,
    PatternId.CASCADE: 300,
    # absent_over_time already waits one rate window before it reports a gap.
    PatternId.SIGNAL_MISSING: 0,
}
KEEP_FIRING_FOR_DEFAULT = 300


class Windows(StrictModel):
    """Query windows shared by every service of a spec; they appear in rule names."""

    short: Duration = Field(
        60, description="retry growth and synchronisation rates; default 1m"
    )
    rate: Duration = Field(300, description="rates, quantiles and ratios; default 5m")
    trend: Duration = Field(900, description="slope of the load ratio; default 15m")
    correlation: Duration = Field(
        1800, description="synchronisation correlation; default 30m"
    )
    baseline: Duration = Field(
        3600,
        description="cache miss baseline, ending where the rate window starts; default 1h",
    )
    calm: Duration = Field(
        600,
        description="metastable: time the load must stay below its warning; default 10m",
    )
    lookback: Duration = Field(
        1800,
        description="metastable: how far back the critical load may lie; default 30m",
    )


def _levels_model(signal: str) -> type[StrictModel]:
    fields: dict[str, Any] = {}
    for row in levels_of(signal):
        fields[row.level] = (
            # Strict: a YAML true or "12" is a typo here, not a number.
            Annotated[float | None, Strict(), AfterValidator(_range_check(row.kind))],
            Field(None, description=f"{row.meaning}; default {row.default:g}"),
        )
    return create_model(
        f"{signal.title().replace('_', '')}Levels", __base__=StrictModel, **fields
    )


def _range_check(kind: Kind):
    bounds = {
        Kind.FRACTION: (lambda x: 0 < x <= 1, "a fraction above 0 and at most 1"),
        Kind.CORRELATION: (lambda x: 0 < x < 1, "a correlation above 0 and below 1"),
        Kind.MULTIPLIER: (lambda x: x >= 1, "a multiplier of at least 1"),
        Kind.RATE: (lambda x: x >= 0, "a rate of at least 0 per second"),
        Kind.COUNT: (
            lambda x: x >= 1 and float(x).is_integer(),
            "a whole count of at least 1",
        ),
        Kind.SCORE: (lambda x: 0 <= x <= 100, "a score from 0 to 100"),
    }
    accept, valid = bounds[kind]

    def check(value: float | None) -> float | None:
        if value is not None and not accept(value):
            raise ValueError(f"{value:g} is out of range: use {valid}")
        return value

    return check


Thresholds = create_model(
    "Thresholds",
    __base__=StrictModel,
    __doc__="Threshold overrides; anything omitted keeps the level of the enclosing scope.",
    **{signal: (_levels_model(signal) | None, None) for signal in SIGNALS},
)


class AlertTiming(StrictModel):
    """How long a condition must hold before the alert fires, and keeps firing after."""

    for_: Duration | None = Field(
        None, alias="for", description="pending time before firing"
    )
    keep_firing_for: Duration | None = Field(
        None,
        description="time an alert keeps firing after its condition clears; default 5m",
    )


AlertSettings = create_model(
    "AlertSettings",
    __base__=StrictModel,
    __doc__=(
        "Per-pattern alert timing. Default `for`: "
        + ", ".join(
            f"{pattern.value} {format_duration(seconds)}"
            for pattern, seconds in ALERT_FOR_DEFAULTS.items()
        )
        + f"; default keep_firing_for: {format_duration(KEEP_FIRING_FOR_DEFAULT)}."
    ),
    **{pattern.value: (AlertTiming | None, None) for pattern in PatternId},
)


class Capacity(StrictModel):
    """What the service can take; the load ratio is the larger of the two shares."""

    requests_per_second: float | None = Field(
        None, gt=0, description="sustainable request rate"
    )
    cpu_limit_cores: float | None = Field(
        None,
        gt=0,
        description="CPU limit of one pod in cores; without it kube-state-metrics' limit",
    )


class Protocol(StrEnum):
    """How a service's requests fail, which picks the error label of the Istio profile."""

    HTTP = "http"
    GRPC = "grpc"


class CacheExporter(StrEnum):
    REDIS = "redis"
    MEMCACHED = "memcached"


class PoolExporter(StrEnum):
    """Where the database connection counts come from."""

    POSTGRES = "postgres"
    HIKARICP_MICROMETER = "hikaricp-micrometer"
    HIKARICP_PROMETHEUS = "hikaricp-prometheus"
    OTEL = "otel"


class Cache(StrictModel):
    """The cache this service reads through, and how its exporter labels it."""

    exporter: CacheExporter
    match: dict[LabelName, str] = Field(
        default_factory=dict, description="label matchers of the exporter's series"
    )


class Database(StrictModel):
    """The database behind the cache, seen through its exporter or the service's pool."""

    exporter: PoolExporter
    match: dict[LabelName, str] = Field(
        default_factory=dict, description="label matchers of the connection series"
    )
    max_connections: int | None = Field(
        None, ge=1, description="maximum connections, where no series reports it"
    )


class Defaults(StrictModel):
    """Settings every service takes unless it sets its own."""

    profile: Profile = Profile.ISTIO
    team: NonEmpty = "platform"
    thresholds: Thresholds = Field(default_factory=Thresholds)  # type: ignore[valid-type]
    alerts: AlertSettings = Field(default_factory=AlertSettings)  # type: ignore[valid-type]


class Synchronisation(StrictModel):
    """How service pairs are chosen and correlated."""

    entry_services: list[DnsLabel] | None = Field(
        None,
        description="services whose summed traffic is the shared driver; default: no caller",
    )
    groups: dict[DnsLabel, list[DnsLabel]] = Field(
        default_factory=dict,
        description="named groups whose pairs are correlated in large specs",
    )
    all_pairs_max_services: int = Field(
        30,
        ge=2,
        le=200,
        description="up to this many services every pair is correlated",
    )
    min_samples: int = Field(
        100, ge=10, description="samples a window needs before a correlation"
    )


class Service(StrictModel):
    """One service of the system."""

    name: DnsLabel
    match: dict[LabelName, str] = Field(
        default_factory=dict,
        description="label matchers of the service's series; default by name",
    )
    team: NonEmpty | None = None
    depends_on: list[DnsLabel] = Field(default_factory=list)
    path_amplification_excludes: list[DnsLabel] = Field(
        default_factory=list,
        description="dependencies whose edge is left out of path amplification (breaks a cycle)",
    )
    capacity: Capacity | None = None
    protocol: Protocol = Protocol.HTTP
    cache: Cache | None = None
    database: Database | None = None
    runtime: Runtime | None = None
    profile: Profile | None = None
    signals: dict[Signal, SelectorText] = Field(
        default_factory=dict,
        description="raw PromQL selector per signal, replacing the profile's",
    )
    thresholds: Thresholds = Field(default_factory=Thresholds)  # type: ignore[valid-type]
    alerts: AlertSettings = Field(default_factory=AlertSettings)  # type: ignore[valid-type]
    disable: list[PatternId] = Field(default_factory=list)


DATASOURCE_URL = re.compile(r"^https?://[^\s]+$")


def _check_datasource_url(value: str) -> str:
    _check_no_control_characters(value)
    if not DATASOURCE_URL.match(value):
        raise ValueError(
            f"{value!r} is not a Prometheus URL: use http:// or https:// without spaces"
        )
    return value


class Grafana(StrictModel):
    """Settings of the generated Grafana dashboards and provisioning files."""

    folder: NonEmpty = Field(
        "Emergence", description="Grafana folder the dashboards are provisioned into"
    )
    datasource_url: Annotated[str, AfterValidator(_check_datasource_url)] = Field(
        "http://prometheus:9090",
        description="URL of the Prometheus datasource, as Grafana's server reaches it",
    )
    tags: list[NonEmpty] = Field(
        default_factory=lambda: ["emergence"],
        description="tags of every generated dashboard; the spec name is added",
    )


class Spec(StrictModel):
    """A system: its services, how they call each other, and what counts as dangerous."""

    api_version: Literal["emergence-ops/v1"] = Field(alias="apiVersion")
    name: DnsLabel
    namespace: DnsLabel = "monitoring"
    scrape_interval: Duration = 15
    evaluation_interval: Duration = 15
    windows: Windows = Field(default_factory=Windows)
    # Alerts append /<pattern>#<service>, so the base has no query or fragment.
    runbook_base_url: Annotated[str, AfterValidator(_check_runbook_url)] = (
        "https://runbooks.example.com/emergence"
    )
    teams: list[NonEmpty] | None = Field(
        None, description="when given, every service's team must be one of these"
    )
    defaults: Defaults = Field(default_factory=Defaults)
    synchronisation: Synchronisation = Field(default_factory=Synchronisation)
    services: list[Service] = Field(min_length=1)
    grafana: Grafana = Field(
        default_factory=Grafana, description="Grafana dashboards and provisioning"
    )
