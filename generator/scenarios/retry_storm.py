"""Generated promtool tests of the retry_storm pattern."""


def scenarios(plan):
    return []
