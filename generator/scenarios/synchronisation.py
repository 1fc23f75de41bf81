"""Generated promtool tests of the synchronisation pattern."""


def scenarios(plan):
    return []
