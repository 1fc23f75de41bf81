"""Generated promtool tests of the retry_amplification pattern."""


def scenarios(plan):
    return []
