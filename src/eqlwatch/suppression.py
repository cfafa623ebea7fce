"""Alert suppression (Kibana's semantics), as pure logic over event time.

Matches of one rule that share the values of the `group_by` fields become one alert per
bucket: the first match at t0 opens the bucket [t0, t0 + duration); later matches inside it
update that alert's `kibana.alert.suppression.{terms,start,end,docs_count}` (docs_count
counts the suppressed matches, the first one not included, as Kibana does); the first match
at or after the bucket's end opens a new one. Matches are taken in (completion time, alert
id) order, which the runner's slices keep across runs, so the result does not depend on how
runs cut time.

Everything a later run needs is the per-group state (`GroupState`): the bucket and the last
match counted. A replayed slice skips matches at or before that last one, and versions carry
absolute values (not increments), so writing a version twice, or replaying a slice whose
state was saved, counts nothing twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson

from eqlwatch.model import Alert, Hit
from eqlwatch.rules.fields import get_field

MissingFields = Literal["suppress", "doNotSuppress"]


@dataclass(frozen=True, slots=True)
class SuppressionSpec:
    group_by: tuple[str, ...]
    duration: timedelta
    missing_fields: MissingFields = "suppress"


@dataclass(frozen=True, slots=True)
class Match:
    """One alert of the rule with what suppression reads: its completion time and values."""

    time: datetime
    alert: Alert
    values: tuple[Any, ...]  # one per group_by field; None when the field is missing


@dataclass(frozen=True, slots=True)
class GroupState:
    """One group's open bucket and the last match counted in it (the replay guard)."""

    values: tuple[Any, ...]
    alert_id: str  # the suppressed alert's id
    start: datetime  # the bucket's first match
    end: datetime  # its latest match
    docs_count: int  # matches suppressed into it (the first one not counted)
    last_id: str  # alert id of the latest match (with `end`, the processing order key)

    def to_json(self) -> dict[str, Any]:
        return {
            "values": list(self.values),
            "alert_id": self.alert_id,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "docs_count": self.docs_count,
            "last_id": self.last_id,
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> GroupState:
        """Raises KeyError, TypeError or ValueError on a malformed record."""
        start, end = datetime.fromisoformat(data["start"]), datetime.fromisoformat(data["end"])
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("suppression times must be timezone-aware")
        count = data["docs_count"]
        if not isinstance(count, int) or count < 0:
            raise ValueError(f"docs_count must be a count, got {count!r}")
        return GroupState(
            values=tuple(data["values"]),
            alert_id=str(data["alert_id"]),
            start=start,
            end=end,
            docs_count=count,
            last_id=str(data["last_id"]),
        )


@dataclass(frozen=True, slots=True)
class Version:
    """A suppressed alert as it stands after a batch.

    `first` is the bucket's full document when the bucket opened in this batch (the sink
    creates it); otherwise the sink sets `fields` on the document it already holds.
    """

    alert_id: str
    fields: Mapping[str, Any]  # the `kibana.alert.suppression` object
    first: Alert | None = None


@dataclass(slots=True)
class Outcome:
    plain: list[Alert] = field(default_factory=list)  # not suppressed (a missing field)
    versions: list[Version] = field(default_factory=list)
    opened: list[Alert] = field(default_factory=list)  # buckets opened: notify these
    groups: dict[str, GroupState] = field(default_factory=dict)
    replayed: int = 0  # matches already counted by an earlier attempt


def group_values(hit: Hit, fields: Sequence[str]) -> tuple[Any, ...]:
    """Each field's value from the first present event of the hit that has it (else None)."""
    out: list[Any] = []
    for name in fields:
        value = None
        for event in hit.events:
            if not event.missing:
                value = get_field(event.source, name)
                if value is not None:
                    break
        out.append(value)
    return tuple(out)


def _digest(*parts: Any) -> str:
    return hashlib.sha256(orjson.dumps(list(parts), default=str)).hexdigest()


def group_key(values: tuple[Any, ...]) -> str:
    return _digest(*values)


def suppressed_id(rule_id: str, values: tuple[Any, ...], first_alert_id: str) -> str:
    """The bucket's alert id: the same for every run that sees the same first match."""
    return _digest("suppressed", rule_id, *values, first_alert_id)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def suppression_fields(spec: SuppressionSpec, state: GroupState) -> dict[str, Any]:
    """Kibana's `kibana.alert.suppression` object for one bucket."""
    terms = [
        {"field": name, "value": None if v is None else (v if isinstance(v, list) else [v])}
        for name, v in zip(spec.group_by, state.values, strict=True)
    ]
    return {
        "terms": terms,
        "start": _iso(state.start),
        "end": _iso(state.end),
        "docs_count": state.docs_count,
    }


def set_fields(document: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `document` whose `kibana.alert.suppression` is `fields`."""
    doc = dict(document)
    kibana = dict(doc.get("kibana") or {})
    kibana_alert = dict(kibana.get("alert") or {})
    kibana_alert["suppression"] = dict(fields)
    kibana["alert"] = kibana_alert
    doc["kibana"] = kibana
    return doc


def fields_of(document: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The document's `kibana.alert.suppression`, None when it is not a suppressed alert."""
    kibana = document.get("kibana")
    node = kibana.get("alert") if isinstance(kibana, Mapping) else None
    found = node.get("suppression") if isinstance(node, Mapping) else None
    return found if isinstance(found, Mapping) else None


def with_fields(alert: Alert, fields: Mapping[str, Any]) -> Alert:
    return Alert(id=alert.id, rule_id=alert.rule_id, document=set_fields(alert.document, fields))


def with_suppression(alert: Alert, alert_id: str, fields: Mapping[str, Any]) -> Alert:
    """The first match's document as the bucket's alert: its id and the suppression fields."""
    doc = set_fields(alert.document, fields)
    own = dict(doc.get("eqlwatch") or {})
    own["alert_id"] = alert_id
    own["first_match_id"] = alert.id
    doc["eqlwatch"] = own
    event = dict(doc.get("event") or {})
    if "id" in event:
        event["id"] = alert_id
    doc["event"] = event
    return Alert(id=alert_id, rule_id=alert.rule_id, document=doc)


def prune(
    groups: Mapping[str, GroupState], since: datetime, duration: timedelta
) -> dict[str, GroupState]:
    """Groups whose bucket may still take a match at or after `since` (the rest are closed:
    every later match opens a new bucket anyway, and none of theirs can be replayed)."""
    return {k: g for k, g in groups.items() if g.start + duration > since}


def suppress(
    spec: SuppressionSpec,
    rule_id: str,
    matches: Iterable[Match],
    groups: Mapping[str, GroupState],
) -> Outcome:
    """Folds one batch of matches into the groups' buckets (pure; inputs unchanged)."""
    out = Outcome(groups=dict(groups))
    touched: dict[str, tuple[GroupState, Alert | None]] = {}  # bucket id -> (state, first)
    for match in sorted(matches, key=lambda m: (m.time, m.alert.id)):
        if spec.missing_fields == "doNotSuppress" and any(v is None for v in match.values):
            out.plain.append(match.alert)
            continue
        key = group_key(match.values)
        current = out.groups.get(key)
        if current is not None and (match.time, match.alert.id) <= (current.end, current.last_id):
            out.replayed += 1
            continue
        if current is None or match.time >= current.start + spec.duration:
            ident = suppressed_id(rule_id, match.values, match.alert.id)
            state = GroupState(match.values, ident, match.time, match.time, 0, match.alert.id)
            first: Alert | None = match.alert
        else:
            state = GroupState(
                current.values,
                current.alert_id,
                current.start,
                match.time,
                current.docs_count + 1,
                match.alert.id,
            )
            first = touched[current.alert_id][1] if current.alert_id in touched else None
        out.groups[key] = state
        touched[state.alert_id] = (state, first)
    for ident, (state, first) in touched.items():
        fields = suppression_fields(spec, state)
        full = None if first is None else with_suppression(first, ident, fields)
        out.versions.append(Version(ident, fields, full))
        if full is not None:
            out.opened.append(full)
    return out
