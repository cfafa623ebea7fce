"""Grouping across rules: alerts of one incident carry one `eqlwatch.group.id`.

One regsvr32 run fires several rules; on-call wants "one incident, three rules", not three
pages. Alerts group by the host they happened on (`host.id`, else `host.name`) and a fixed
grid of time cells of `span` (default 30 minutes) cut from the Unix epoch, placed by the
alert's `event.start` (its first event's time); an alert without a host groups by its
`process.entity_id`; an alert with neither has no group.

Why a fixed grid, and not "within 30 minutes of the previous alert": the group must be a
pure function of the alert itself, so that it is the same under any windowing, restart,
replay or replica, and never changes once written. A session-style span depends on which
neighbours a run has seen (a late alert between two sessions would merge them and rewrite
written alerts). The price: an incident that straddles a cell boundary is two groups.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from eqlwatch.rules.fields import get_field
from eqlwatch.windowing import parse_timestamp

DEFAULT_SPAN = timedelta(minutes=30)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _scalar(value: Any) -> str | None:
    if isinstance(value, list):  # ECS allows arrays: the first value names the entity
        value = value[0] if value else None
    if value is None or isinstance(value, Mapping) or value == "":
        return None
    return str(value)


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_timestamp(value)  # as Elasticsearch reads it: ISO 8601 or epoch millis
    except ValueError:
        return None


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def group_of(document: Mapping[str, Any], span: timedelta = DEFAULT_SPAN) -> dict[str, Any] | None:
    """The `eqlwatch.group` object of an alert document, or None when it names no entity.

    `id`: a hash of what groups it; `by`: the field; `value`: the entity; `start`/`end`:
    the grid cell (host groups only).
    """
    if span <= timedelta(0):
        raise ValueError("the grouping span must be positive")
    for field in ("host.id", "host.name"):
        host = _scalar(get_field(document, field))
        if host is None:
            continue
        start = _time(get_field(document, "event.start")) or _time(get_field(document, "event.end"))
        if start is None:
            break
        cell = _EPOCH + span * ((start - _EPOCH) // span)
        begin = cell.isoformat().replace("+00:00", "Z")
        end = (cell + span).isoformat().replace("+00:00", "Z")
        return {
            "id": _digest("host", host, begin, str(span.total_seconds())),
            "by": field,
            "value": host,
            "start": begin,
            "end": end,
        }
    entity = _scalar(get_field(document, "process.entity_id"))
    if entity is None:
        return None
    return {"id": _digest("process.entity_id", entity), "by": "process.entity_id", "value": entity}


def incidents(documents: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Alert documents gathered by `eqlwatch.group.id`, in order of first appearance, for
    summary messages ("one incident, three rules"); an alert without a group is its own.

    Each: the group's fields (`id` None for an ungrouped alert), `alerts` and `rules` (the
    distinct rule names, in order).
    """
    out: dict[str, dict[str, Any]] = {}
    for n, document in enumerate(documents):
        group = get_field(document, "eqlwatch.group")
        key = group["id"] if isinstance(group, Mapping) and "id" in group else f"\x00{n}"
        entry = out.get(key)
        if entry is None:
            fields = dict(group) if isinstance(group, Mapping) and "id" in group else {"id": None}
            entry = out[key] = {**fields, "alerts": [], "rules": []}
        entry["alerts"].append(document)
        name = get_field(document, "rule.name")
        if name not in entry["rules"]:
            entry["rules"].append(name)
    return list(out.values())
