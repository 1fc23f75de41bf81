"""emergence-ops: Prometheus rules, promtool tests and dashboards for emergent failures."""

__version__ = "0.1.0"
