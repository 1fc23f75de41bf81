"""Generated promtool tests of the phase_transition pattern."""


def scenarios(plan):
    return []
