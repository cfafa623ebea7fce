"""Durations as rule and job files spell them: "5m", "30s", "now-9m".

Kept strict on purpose: a typo such as "5 min" is an error naming the field, never a
silent default.
"""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS: dict[str, timedelta] = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d|w)\s*$")
_FROM = re.compile(r"^\s*now\s*(?:-\s*(\d+)\s*(ms|s|m|h|d|w))?\s*$")


def parse_duration(text: str) -> timedelta:
    """Parse "<int><unit>" with unit ms, s, m, h, d or w; raises ValueError otherwise."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"invalid duration {text!r}: expected e.g. '30s', '5m', '1h', '2d'")
    return int(match.group(1)) * _UNITS[match.group(2)]


def parse_from(text: str) -> timedelta:
    """Parse Elastic's relative `from` ("now-9m") into how far back a run looks."""
    match = _FROM.match(text)
    if match is None:
        raise ValueError(f"invalid 'from' {text!r}: expected 'now-<duration>', e.g. 'now-9m'")
    if match.group(1) is None:
        return timedelta(0)
    return int(match.group(1)) * _UNITS[match.group(2)]


def format_duration(value: timedelta) -> str:
    """The shortest exact "<int><unit>" spelling of a duration (inverse of parse_duration)."""
    total_ms = round(value.total_seconds() * 1000)
    for unit in ("w", "d", "h", "m", "s"):
        unit_ms = round(_UNITS[unit].total_seconds() * 1000)
        if total_ms and total_ms % unit_ms == 0:
            return f"{total_ms // unit_ms}{unit}"
    return f"{total_ms}ms"
