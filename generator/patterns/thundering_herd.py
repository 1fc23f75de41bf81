"""Thundering herd: a cache flush or expiry sends every client to the database at once.

The baseline is the miss rate over the hour before the rate window. Cache misses above 10
times their baseline are a warning while more than 80 % of the database's maximum
connections are open, or more than 800 where no maximum is known. 100 times with 95 %
(1000) is critical. For a service without a database connection signal the miss spike
alone decides.
"""

from generator.patterns.base import Alert, Pattern, Recording, Runbook, needs_signals
from generator.scenarios.thundering_herd import has_connection_limit, scenarios
from generator.spec.models import PatternId, Signal

# NOTE: the baseline takes in a spike one rate window after the spike starts. With the
# default windows and levels, a miss rate that jumps to R times its old level and stays
# there fires the warning only for R above about 18, and the critical alert only for R
# above about 990. The scenario model computes these figures at a 15s step.
PATTERN = Pattern(
    id=PatternId.THUNDERING_HERD,
    title="Thundering herd",
    needs=needs_signals(Signal.CACHE_MISSES),
    recordings=(
        Recording("cache_misses", "thundering_herd/misses.promql.j2"),
        Recording("cache_miss_baseline", "thundering_herd/baseline.promql.j2"),
        Recording("cache_miss_spike", "thundering_herd/spike.promql.j2"),
        Recording(
            "cache_hit_ratio",
            "thundering_herd/hit_ratio.promql.j2",
            lambda service: service.has(Signal.CACHE_HITS),
        ),
        Recording(
            "db_connections",
            "thundering_herd/connections.promql.j2",
            lambda service: service.has(Signal.DB_CONNECTIONS),
        ),
        Recording(
            "db_connection_ratio",
            "thundering_herd/connection_ratio.promql.j2",
            has_connection_limit,
        ),
    ),
    alerts=(
        Alert(
            "warning",
            "thundering_herd/alert.promql.j2",
            "cache misses of {service} run at {{ $value | humanize }} times their baseline rate",
        ),
        Alert(
            "critical",
            "thundering_herd/alert.promql.j2",
            "cache misses of {service} run at {{ $value | humanize }} times their baseline "
            "rate: the database takes the whole load",
        ),
    ),
    runbook=Runbook(
        meaning="A cache flush or expiry sends the requests the cache used to answer to the "
        "database at once, which fills its connections and slows every query.",
        actions=(
            "Stop whatever flushed the cache; let one request per key refill it (request "
            "coalescing) and serve stale entries meanwhile.",
            "Shed or queue load at the entry point until the hit ratio recovers; spread "
            "expiry times with jitter so keys do not expire together.",
        ),
    ),
    scenarios=scenarios,
)
