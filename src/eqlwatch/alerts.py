"""ECS alert documents: one per match, a sequence being one alert with its events in order.

`build_alert` is pure (time and job are arguments). The id is the sha256 of the rule id and
the ordered (index, _id) pairs of the hit's *present* events (missing `![...]` slots have no
document, so they are left out), which makes overlapping windows, retries and replicas
produce the same id. The document carries what Kibana's prebuilt "External Alerts" rule
reads: `event.kind: "alert"`, a module other than endpoint/endgame/cloud_defend,
`event.severity` as 21/47/73/99, `event.risk_score`, and `message` (its rule-name override).

Strings copied from events into the document are capped at `max_string_bytes` of UTF-8
(default `MAX_STRING_BYTES`), the cut marked in the string itself, so one huge event field
cannot make an alert Elasticsearch would refuse (`http.max_content_length` is 100 MB, one
`keyword` term at most 32,766 bytes) or a local alerts line of that size. The note has its
own limit (`eqlwatch.notes.limits`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import orjson

from eqlwatch.digest import OBJECTS as COPIED_OBJECTS
from eqlwatch.digest import Digest
from eqlwatch.enrich import Enrichment
from eqlwatch.hitfacts import HitFacts, facts_of, present_sources
from eqlwatch.jsondump import dumps
from eqlwatch.model import Alert, Hit, HitEvent
from eqlwatch.rules.exceptions import is_excepted, matching_exception
from eqlwatch.rules.model import Rule

ECS_VERSION = "8.17.0"
# Under Lucene's 32,766-byte limit on one indexed term (a longer `keyword` value makes the
# whole document fail), with room for the marker.
MAX_STRING_BYTES = 32_000
SEVERITY_NUMBER = {"low": 21, "medium": 47, "high": 73, "critical": 99}

__all__ = [
    "SEVERITY_NUMBER",
    "Links",
    "alert_id",
    "build_alert",
    "cap_strings",
    "discover_url",
    "is_excepted",
    "matching_exception",
    "serialize_alert",
    "serialize_alerts",
]


@dataclass(frozen=True, slots=True)
class Links:
    """Where links back to source events point: Kibana's base URL and a data view covering
    the source indices (Kibana Security's default data view by default)."""

    kibana_url: str | None = None
    data_view_id: str = "security-solution-default"
    space: str | None = None
    # Link prefix per index, filled by `discover_url` (not part of the value).
    _prefixes: dict[str, str] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )


def alert_id(rule_id: str, events: Sequence[HitEvent]) -> str:
    """sha256 hex of the rule id and the ordered (index, _id) of the present events."""
    refs = [(e.index, e.id) for e in events if not e.missing]
    return hashlib.sha256(orjson.dumps([rule_id, refs])).hexdigest()


@lru_cache(maxsize=1024)
def _quote(text: str) -> str:
    return quote(text, safe="")


# What `quote(..., safe="")` leaves alone: such ids (most Elasticsearch ids) need no call.
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")


def discover_url(links: Links, index: str, doc_id: str) -> str:
    """Kibana Discover's single-document view of one source event (path only without base)."""
    prefix = links._prefixes.get(index)
    if prefix is None:
        if len(links._prefixes) >= 256:  # indices roll over: keep the cache bounded
            links._prefixes.clear()
        prefix = links._prefixes[index] = _doc_prefix(links, index)
    plain_id = _UNRESERVED.fullmatch(doc_id) is not None
    return prefix + (doc_id if plain_id else quote(doc_id, safe=""))


def _doc_prefix(links: Links, index: str) -> str:
    """Everything of a Discover link before the quoted document id (per links and index)."""
    space = f"/s/{_quote(links.space)}" if links.space else ""
    path = f"{space}/app/discover#/doc/{_quote(links.data_view_id)}/{_quote(index)}?id="
    return f"{links.kibana_url.rstrip('/')}{path}" if links.kibana_url else path


@lru_cache(maxsize=16)
def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("detected_at must be timezone-aware")
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def cap_string(text: str, limit: int) -> str:
    """`text`, or as much of it as fits in `limit` bytes of UTF-8 (whole characters) and a
    marker saying how many characters were cut."""
    if len(text) * 4 <= limit:  # UTF-8 needs at most 4 bytes a character: no encoding
        return text
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text
    kept = data[:limit].decode("utf-8", "ignore")
    return f"{kept}…[truncated {len(text) - len(kept):,} chars]"


def cap_strings(value: Any, limit: int) -> Any:
    """`value` with every string over `limit` bytes capped (keys too); the same object
    when nothing needed capping, so ordinary alerts pay one walk and no copy."""
    if isinstance(value, str):
        return cap_string(value, limit)
    if isinstance(value, Mapping):
        out: dict[Any, Any] | None = None
        for key, item in value.items():
            capped = cap_strings(item, limit)
            new_key = cap_string(key, limit) if isinstance(key, str) else key
            if out is None and (capped is not item or new_key is not key):
                out = {}
                for done, kept in value.items():
                    if done is key:
                        break
                    out[done] = kept
            if out is not None:
                out[new_key] = capped
        return value if out is None else out
    if isinstance(value, list | tuple):
        items = [cap_strings(item, limit) for item in value]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        return items
    return value


def _fits(value: Any, limit: int) -> bool:
    """True when no string in `value` can be over `limit` bytes: its JSON is not longer.

    One orjson call instead of a walk in Python; a string's UTF-8 bytes never exceed its
    JSON form. Values orjson cannot write (`default` fails) are walked.
    """
    try:
        return len(dumps(value, default=str)) <= limit
    except orjson.JSONEncodeError:
        return False


def _related(digest: Digest, enrichment: Enrichment) -> dict[str, Any]:
    ips = [info.ip for info in enrichment.ips]
    pairs = (("ip", ips), ("user", digest.users), ("hosts", digest.hosts), ("hash", digest.hashes))
    return {key: values for key, values in pairs if values}


def _event_refs(
    hit: Hit, links: Links, facts: HitFacts
) -> tuple[list[dict[str, Any]], list[str], tuple[Any, Any] | None]:
    refs: list[dict[str, Any]] = []
    stamps = iter(facts.times)
    for event in hit.events:
        if event.missing:
            refs.append({"missing": True})
            continue
        url = discover_url(links, event.index, event.id)
        refs.append({"index": event.index, "id": event.id, "timestamp": next(stamps), "url": url})
    return refs, facts.digest().categories, facts.span()


def _event_fields(
    rule: Rule,
    hit: Hit,
    ident: str,
    created: str,
    refs: tuple[list[Any], list[str], tuple[Any, Any] | None],
) -> dict[str, Any]:
    """ECS `event.*` of the alert: what Kibana's External Alerts rule and ECS readers use."""
    slots, categories, span = refs
    body = rule.rule
    event: dict[str, Any] = {
        "kind": "alert",
        "module": "eqlwatch",
        "dataset": "eqlwatch.alerts",
        "id": ident,
        "type": ["info"],
        "category": categories,
        "severity": SEVERITY_NUMBER[body.severity],
        "risk_score": float(body.risk_score),
        "risk_score_norm": float(body.risk_score),
        "created": created,
        "reason": f"{hit.kind} matched {body.name}",
    }
    if span is not None:
        event["start"], event["end"] = span
    first_url = next((r["url"] for r in slots if "url" in r), None)
    if first_url is not None:
        event["url"] = first_url
    if body.references:
        event["reference"] = body.references[0]
    return event


def build_alert(
    rule: Rule,
    hit: Hit,
    enrichment: Enrichment,
    note: str,
    *,
    detected_at: datetime,
    job_id: str,
    links: Links | None = None,
    timestamp_field: str = "@timestamp",
    note_error: str | None = None,
    facts: HitFacts | None = None,
    ident: str | None = None,
    max_string_bytes: int = MAX_STRING_BYTES,
) -> Alert:
    """The ECS alert document of one hit (pure: no I/O, time given).

    `note_error` records that `note` is the fallback because the template failed.
    Strings that come from the events are capped at `max_string_bytes`.
    `facts` (read with the same `timestamp_field`) and `ident` (`alert_id` of this rule
    and hit) may be passed when the caller already has them; they are computed otherwise.
    """
    if ident is None:
        ident = alert_id(rule.rule_id, hit.events)
    if facts is None:
        facts = facts_of(present_sources(hit), timestamp_field=timestamp_field)
    refs = _event_refs(hit, links or Links(), facts)
    digest = facts.digest()
    objects = digest.objects
    created = _iso(detected_at)
    copied = {name: objects[name] for name in COPIED_OBJECTS if name in objects}
    related = _related(digest, enrichment)
    join_keys = list(hit.join_keys)
    slots = refs[0]
    if not _fits((copied, related, join_keys, slots), max_string_bytes):
        copied = cap_strings(copied, max_string_bytes)
        related = cap_strings(related, max_string_bytes)
        join_keys = cap_strings(join_keys, max_string_bytes)
        slots = cap_strings(slots, max_string_bytes)
    own: dict[str, Any] = {
        "alert_id": ident,
        "job_id": job_id,
        "rule_id": rule.rule_id,
        "severity": rule.rule.severity,
        "kind": hit.kind,
        "join_keys": join_keys,
        "note": note,
        "template": rule.eqlwatch.template,
        "enrichment": enrichment.document(),
        "events": slots,
    }
    if note_error is not None:
        own["note_error"] = note_error
    doc: dict[str, Any] = {
        "@timestamp": created,
        "message": rule.name,
        "ecs": {"version": ECS_VERSION},
        "event": _event_fields(rule, hit, ident, created, refs),
        **rule.ecs_fields,
        **copied,
        "related": related,
        "eqlwatch": own,
    }
    return Alert(id=ident, rule_id=rule.rule_id, document=doc)


def serialize_alert(alert: Alert) -> bytes:
    """The alert document as compact JSON (orjson)."""
    return dumps(alert.document, default=str)


def serialize_alerts(alerts: Iterable[Alert]) -> bytes:
    """Alerts as NDJSON, one document per line."""
    return b"".join(serialize_alert(a) + b"\n" for a in alerts)
