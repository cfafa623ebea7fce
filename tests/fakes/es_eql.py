"""EQL evaluation for the stand-in cluster, answering in Elasticsearch's response shape.

eqlwatch's embedded engine (Elasticsearch EQL semantics) evaluates the query over the
documents of the target indices, after the request's Query DSL `filter`. Response shape
follows the specification type `eql._types.EqlSearchResponseBase` / `EqlHits`
(hits.total, hits.events, hits.sequences with join_keys, events with _index, _id, _source).
A test may give the indices' field mapping (`schema`): then mapped fields are known columns
and typed (multi-fields such as a `*.caseless` with its normalizer), as in a real cluster.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from eqlwatch.engine import CompiledQuery, FieldSchema, SourceEvent, compile_query
from eqlwatch.errors import QueryError
from eqlwatch.model import HitEvent
from tests.fakes.es_store import EsError

_OPTIONAL = re.compile(r"\?([A-Za-z0-9_.@]+)")

Event = tuple[str, str, dict[str, Any]]


def lookup(source: Mapping[str, Any], path: str) -> Any:
    """A dotted field from a document, accepting both nested objects and dotted keys."""
    if path in source:
        return source[path]
    head, _, rest = path.partition(".")
    inner = source.get(head)
    if rest and isinstance(inner, Mapping):
        return lookup(inner, rest)
    return None


def flat_fields(source: Mapping[str, Any], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for key, value in source.items():
        name = f"{prefix}{key}"
        out.add(name)
        if isinstance(value, Mapping):
            out |= flat_fields(value, f"{name}.")
    return out


def epoch_ms(value: Any) -> int:
    if isinstance(value, int | float):
        return int(value)
    return int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp() * 1000)


def matches_filter(source: Mapping[str, Any], flt: Mapping[str, Any] | None) -> bool:
    """The Query DSL subset eqlwatch sends: bool filter/must/should/must_not of range,
    term, exists, match_all."""
    if not flt:
        return True
    ((kind, spec),) = flt.items()
    if kind == "match_all":
        return True
    if kind == "bool":
        clauses = list(spec.get("filter", [])) + list(spec.get("must", []))
        if not all(matches_filter(source, c) for c in clauses):
            return False
        if any(matches_filter(source, c) for c in spec.get("must_not", [])):
            return False
        should = list(spec.get("should", []))
        need = int(spec.get("minimum_should_match", 1 if should and not clauses else 0))
        return sum(matches_filter(source, c) for c in should) >= need
    if kind == "exists":
        return lookup(source, spec["field"]) is not None
    if kind == "term":
        ((field, want),) = spec.items()
        want = want.get("value") if isinstance(want, Mapping) else want
        return bool(lookup(source, field) == want)
    if kind == "range":
        ((field, bounds),) = spec.items()
        raw = lookup(source, field)
        if raw is None:
            return False
        value = epoch_ms(raw)
        ops = {"gte": value.__ge__, "gt": value.__gt__, "lte": value.__le__, "lt": value.__lt__}
        return all(ops[k](epoch_ms(v)) for k, v in bounds.items() if k in ops)
    raise EsError(400, "parsing_exception", f"unknown query [{kind}]")


def _compile(
    query: str, body: Mapping[str, Any], size: int | None, schema: FieldSchema | None = None
) -> CompiledQuery:
    try:
        return compile_query(
            query,
            schema=schema,
            timestamp_field=str(body.get("timestamp_field", "@timestamp")),
            tiebreaker_field=body.get("tiebreaker_field"),
            event_category_field=str(body.get("event_category_field", "event.category")),
            size=size,
            max_samples_per_key=int(body.get("max_samples_per_key", 1)),
        )
    except QueryError as exc:
        raise EsError(400, "parsing_exception", str(exc)) from exc


def _check_columns(
    query: str, compiled: CompiledQuery, events: list[Event], schema: FieldSchema | None = None
) -> None:
    """400 verification_exception for fields neither the mapping nor a document has."""
    known: set[str] = set(schema.fields) if schema is not None else set()
    for _i, _d, source in events:
        known |= flat_fields(source)
    missing = sorted(compiled.info.fields - known - set(_OPTIONAL.findall(query)))
    if missing:
        problems = "\n".join(f"line 1:1: Unknown column [{m}]" for m in missing)
        raise EsError(400, "verification_exception", f"Found {len(missing)} problem(s)\n{problems}")


def _hit(event: HitEvent) -> dict[str, Any]:
    return event.to_es()


def eql_search(
    events: list[Event], body: Mapping[str, Any], schema: FieldSchema | None = None
) -> dict[str, Any]:
    """Run `body` (spec: eql.search.Request) over (index, id, source) events."""
    query = str(body["query"])
    size = int(body.get("size", 10))
    if size <= 0:
        raise EsError(400, "illegal_argument_exception", "size must be greater than 0")
    everything = _compile(query, body, None, schema)
    _check_columns(query, everything, events, schema)
    chosen = [
        SourceEvent(ix, i, src) for ix, i, src in events if matches_filter(src, body.get("filter"))
    ]
    total = len(everything.run(chosen))
    found = _compile(query, body, size, schema).run(chosen)
    hits: dict[str, Any] = {"total": {"value": total, "relation": "eq"}}
    if everything.info.kind == "event":
        hits["events"] = [_hit(h.events[0]) for h in found]
    else:
        hits["sequences"] = [
            {"join_keys": list(h.join_keys), "events": [_hit(e) for e in h.events]}
            if h.join_keys
            else {"events": [_hit(e) for e in h.events]}
            for h in found
        ]
    return {"is_partial": False, "is_running": False, "took": 1, "timed_out": False, "hits": hits}
