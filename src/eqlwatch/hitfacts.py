"""Reading a hit's events once for both the note and the alert document.

`get_field` is exact for nested, flat (`"process.name"` keys) and mixed sources, but every
miss pays a walk looking for dotted keys, and an alert reads dozens of fields most events
do not have. The IP walk (`Enricher.scan`) visits every object of every event anyway and
tells, for free, which events are *plain*: only dicts, no dotted or non-string key
anywhere. For those, nested `dict.get` is exactly what `get_field` answers; every other
event keeps `get_field`. `HitFacts` carries the events, those flags and the timestamps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

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


@dataclass(frozen=True, slots=True)
class HitFacts:
    """A hit's present events, whether each is plain, and each one's timestamp (or None)."""

    raws: tuple[Mapping[str, Any], ...]
    plain: tuple[bool, ...]
    times: tuple[Any, ...]

    @property
    def stamps(self) -> list[Any]:
        """The timestamps the events have, in event order."""
        return [t for t in self.times if t is not None]

    def span(self) -> tuple[Any, Any] | None:
        """(earliest, latest) timestamp as written in the events; see `time_span`."""
        return time_span(self.stamps)

    def first(self, path: str) -> Any:
        """The first non-empty value of a field across the events (host, user, ...)."""
        for value in self.values(path):
            if value not in (None, "", []):
                return value
        return None

    def values(self, path: str) -> list[Any]:
        """The field's value in each event (None where absent)."""
        parts = parts_of(path)
        if len(parts) == 2 and all(self.plain):  # the common case, without a call per event
            top, key = parts
            out: list[Any] = []
            for raw in self.raws:
                node = raw.get(top)
                out.append(node.get(key) if type(node) is dict else None)
            return out
        return [read(r, p, path, parts) for r, p in zip(self.raws, self.plain, strict=True)]


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
    times = tuple(read(r, p, timestamp_field, parts) for r, p in zip(raws, flags, strict=True))
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
    try:
        keyed = sorted((parse_timestamp(s), n) for n, s in enumerate(stamps))
    except ValueError:
        return stamps[0], stamps[-1]
    return stamps[keyed[0][1]], stamps[keyed[-1][1]]
