"""Generated promtool tests of the latency_ratio pattern."""


def scenarios(plan):
    return []
