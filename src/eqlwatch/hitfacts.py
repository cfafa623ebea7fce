"""Reading a hit's events once for both the note and the alert document.

`get_field` is exact for nested, flat (`"process.name"` keys) and mixed sources, but every
miss pays a walk looking for dotted keys, and an alert reads dozens of fields most events
do not have. The IP walk (`Enricher.scan`) visits every object of every event anyway and
tells, for free, which events are *plain*: only dicts, no dotted or non-string key
anywhere. For those, nested `dict.get` is exactly what `get_field` answers; every other
event keeps `get_field`. `HitFacts` carries the events, those flags and the timestamps.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date
from functools import lru_cache
from typing import Any

from eqlwatch.digest import EMPTY, Digest, digest_of
from eqlwatch.model import Hit
from eqlwatch.rules.fields import get_field
from eqlwatch.windowing import parse_timestamp


@lru_cache(maxsize=512)
def parts_of(path: str) -> tuple[str, ...]:
    """A dotted path's parts (cached: paths repeat for every event)."""
    return tuple(path.split("."))


def read(raw: Mapping[str, Any], plain: bool, path: str, parts: tuple[str, ...]) -> Any:
    """`get_field(raw, path)` (None when absent); plain events are read with `dict.get`."""
    if not plain:
        return get_field(raw, path)
    node: Any = raw
    for part in parts:
        if type(node) is not dict:
            return None
        node = node.get(part)
    return node


def pick(
    raw: Mapping[str, Any], plain: bool, prefix: str, parts: tuple[str, ...], keys: tuple[str, ...]
) -> dict[str, Any]:
    """`{key: value of "<prefix>.<key>"}` for each key (None when absent), like `fields.pick`."""
    if not plain:
        return {key: get_field(raw, f"{prefix}.{key}") for key in keys}
    node: Any = raw
    for part in parts:
        if type(node) is not dict:
            return dict.fromkeys(keys)
        node = node.get(part)
    if type(node) is not dict:
        return dict.fromkeys(keys)
    return {key: node.get(key) for key in keys}


_UNSET: Any = object()


class HitFacts:
    """A hit's present events, whether each is plain, and each one's timestamp (or None).

    `all_plain` (every event plain) lets readers take nested objects as they are. Built once
    per alert on the hot path, so a plain slotted class; treat it as read-only.
    """

    __slots__ = ("_digest", "_span", "all_plain", "plain", "raws", "times")

    def __init__(
        self,
        raws: tuple[Mapping[str, Any], ...],
        plain: tuple[bool, ...],
        times: tuple[Any, ...],
    ) -> None:
        self.raws = raws
        self.plain = plain
        self.times = times
        self.all_plain = all(plain)
        self._span: Any = _UNSET
        self._digest: Digest | None = None

    @property
    def stamps(self) -> list[Any]:
        """The timestamps the events have, in event order."""
        return [t for t in self.times if t is not None]

    def span(self) -> tuple[Any, Any] | None:
        """(earliest, latest) timestamp as written in the events; see `time_span`.

        Worked out once: the note and the alert document both ask.
        """
        if self._span is _UNSET:
            self._span = time_span(self.stamps)
        span: tuple[Any, Any] | None = self._span
        return span

    def digest(self) -> Digest:
        """Host, user, related values, objects and categories (`digest`), read once."""
        if self._digest is None:
            self._digest = digest_of(self)
        return self._digest

    def first(self, path: str) -> Any:
        """The first non-empty value of a field across the events (host, user, ...)."""
        for value in self.values(path):
            if value not in EMPTY:
                return value
        return None

    def pairs(self) -> list[tuple[Mapping[str, Any], bool]]:
        """Each event with whether it is plain."""
        return list(zip(self.raws, self.plain, strict=True))

    def values(self, path: str) -> list[Any]:
        """The field's value in each event (None where absent)."""
        parts = parts_of(path)
        return [read(raw, plain, path, parts) for raw, plain in self.pairs()]


def facts_of(
    raws: Sequence[Mapping[str, Any]],
    plain: Sequence[bool] | None = None,
    timestamp_field: str = "@timestamp",
) -> HitFacts:
    """HitFacts over the present event sources, in order (`plain` from `Enricher.scan`;
    without it every event is read with `get_field`)."""
    flags = tuple(plain) if plain is not None else (False,) * len(raws)
    if len(flags) != len(raws):
        raise ValueError(f"{len(flags)} plain flags for {len(raws)} events")
    parts = parts_of(timestamp_field)
    if len(parts) == 1 and all(flags):  # "@timestamp" in plain events: a plain key
        times = tuple(raw.get(timestamp_field) for raw in raws)
    else:
        pairs = zip(raws, flags, strict=True)
        times = tuple(read(raw, plain, timestamp_field, parts) for raw, plain in pairs)
    return HitFacts(raws=tuple(raws), plain=flags, times=times)


def present_sources(hit: Hit) -> list[Mapping[str, Any]]:
    """The `_source` of each event the hit has (missing `![...]` slots left out)."""
    return [e.source for e in hit.events if not e.missing]


def time_span(stamps: list[Any]) -> tuple[Any, Any] | None:
    """The earliest and latest of the timestamps, as written in the events.

    Sequences list events in time order, but samples list them in filter order and real
    captures have clock skew, so the first event is not always the earliest. Values that do
    not parse keep event order.
    """
    if not stamps:
        return None
    if _uniform_utc(stamps):
        return min(stamps), max(stamps)
    try:
        keyed = sorted((parse_timestamp(s), n) for n, s in enumerate(stamps))
    except ValueError:
        return stamps[0], stamps[-1]
    return stamps[keyed[0][1]], stamps[keyed[-1][1]]


# `YYYY-MM-DDTHH:MM:SS[.f{1,6}]Z`: for strings of this form and one length, text order is time
# order, and equal times are equal strings (no digits past microseconds to truncate).
_UTC_STAMP = re.compile(
    r"(\d{4}-(?:0[1-9]|1[0-2])-[0-3]\d)T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?Z"
)
_VALID_DATES: dict[str, bool] = {}


def _uniform_utc(stamps: list[Any]) -> bool:
    """Whether `min`/`max` on the strings gives what `parse_timestamp` ordering gives."""
    size = -1
    for stamp in stamps:
        if type(stamp) is not str or (size >= 0 and len(stamp) != size):
            return False
        size = len(stamp)
        match = _UTC_STAMP.fullmatch(stamp)
        if match is None or not _valid_date(match[1]):
            return False
    return True


def _valid_date(day: str) -> bool:
    """Whether `parse_timestamp` accepts the calendar day (Feb 30 passes the pattern)."""
    known = _VALID_DATES.get(day)
    if known is None:
        try:
            date.fromisoformat(day)
            known = True
        except ValueError:
            known = False
        if len(_VALID_DATES) >= 4096:
            _VALID_DATES.clear()
        _VALID_DATES[day] = known
    return known
