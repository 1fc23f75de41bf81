"""Prometheus duration strings ("90s", "1h30m") to seconds and back."""

from __future__ import annotations

import re

UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
# Prometheus also accepts "y" and "ms"; a spec has no use for either, so they stay invalid.
DURATION = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: str) -> int:
    """Return the number of seconds in a duration such as "5m" or "1h30m".

    Raises ValueError naming the accepted form when the text is not a duration.
    """
    match = DURATION.match(text)
    if not text or match is None:
        raise ValueError(
            f"invalid duration {text!r}: use whole units from largest to smallest, "
            "for example 30s, 5m, 1h30m (units w, d, h, m, s)"
        )
    counts = [int(group) if group else 0 for group in match.groups()]
    return sum(
        count * seconds for count, seconds in zip(counts, UNITS.values(), strict=True)
    )


def format_duration(seconds: int) -> str:
    """Write seconds as the shortest Prometheus duration, e.g. 5400 -> "1h30m"."""
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in UNITS.items():
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
