"""EQL evaluation for the stand-in cluster, answering in Elasticsearch's response shape.

Until eqlwatch's own engine lands, the `eql` package's Python engine (parsed with
Elasticsearch syntax) evaluates the query; the stand-in only needs filters, event queries
and `sequence by`. Response shape follows the specification type
`eql._types.EqlSearchResponseBase` / `EqlHits` (hits.total, hits.events, hits.sequences
with join_keys, events carrying _index, _id, _source).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import eql
from eql.parser import elasticsearch_syntax, ignore_missing_functions
from eql.walkers import DepthFirstWalker

from tests.fakes.es_store import EsError

_OPTIONAL = re.compile(r"\?([A-Za-z0-9_.@]+)")

Event = tuple[str, str, dict[str, Any]]
_REF = "\x00position"  # marks which stored event the engine handed back


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
    """The Query DSL subset eqlwatch sends: bool.filter/must of range, term, match_all."""
    if not flt:
        return True
    ((kind, spec),) = flt.items()
    if kind == "match_all":
        return True
    if kind == "bool":
        clauses = list(spec.get("filter", [])) + list(spec.get("must", []))
        return all(matches_filter(source, c) for c in clauses)
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


class _Fields(DepthFirstWalker):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def _walk_field(self, node: Any, *args: Any, **kwargs: Any) -> Any:
        self.names.add(node.render())
        return node


def _parse(query: str) -> Any:
    try:
        with elasticsearch_syntax, ignore_missing_functions:
            return eql.parse_query(query)
    except eql.EqlError as exc:
        raise EsError(400, "parsing_exception", f"line 1:1: {exc}") from exc


def _check_columns(query: str, ast: Any, events: list[Event]) -> None:
    """400 verification_exception for fields no target document has (our "mapping")."""
    walker = _Fields()
    walker.walk(ast)
    known: set[str] = set()
    for _i, _d, source in events:
        known |= flat_fields(source)
    missing = sorted(walker.names - known - set(_OPTIONAL.findall(query)))
    if missing:
        problems = "\n".join(f"line 1:1: Unknown column [{m}]" for m in missing)
        raise EsError(400, "verification_exception", f"Found {len(missing)} problem(s)\n{problems}")


def _evaluate(ast: Any, events: list[Event], category_field: str) -> list[list[Event]]:
    results: list[list[Event]] = []
    engine = eql.PythonEngine({"flatten": False})
    engine.add_query(ast)
    engine.add_output_hook(lambda out: results.append([events[e.data[_REF]] for e in out.events]))
    stream = []
    for position, (_ix, _i, src) in enumerate(events):
        category = lookup(src, category_field)
        category = category[0] if isinstance(category, list) and category else category
        data = {**src, _REF: position}
        stream.append(eql.Event(str(category), epoch_ms(lookup(src, "@timestamp")), data))
    engine.stream_events(stream)
    return results


def _hit(event: Event) -> dict[str, Any]:
    return {"_index": event[0], "_id": event[1], "_source": event[2]}


def eql_search(events: list[Event], body: Mapping[str, Any]) -> dict[str, Any]:
    """Run `body` (spec: eql.search.Request) over (index, id, source) events."""
    query = str(body["query"])
    size = int(body.get("size", 10))
    if size <= 0:
        raise EsError(400, "illegal_argument_exception", "size must be greater than 0")
    ts_field = str(body.get("timestamp_field", "@timestamp"))
    tiebreaker = body.get("tiebreaker_field")
    ast = _parse(query)
    _check_columns(query, ast, events)
    chosen = [e for e in events if matches_filter(e[2], body.get("filter"))]
    chosen.sort(
        key=lambda e: (
            epoch_ms(lookup(e[2], ts_field)),
            tiebreaker is None,
            lookup(e[2], tiebreaker or "") or 0,
        )
    )
    found = _evaluate(ast, chosen, str(body.get("event_category_field", "event.category")))
    tail = found[-size:] if body.get("result_position", "tail") == "tail" else found[:size]
    hits: dict[str, Any] = {"total": {"value": len(found), "relation": "eq"}}
    first = ast.first
    if isinstance(first, eql.ast.Sequence):
        keys = [f.render() for f in (first.queries[0].join_values or [])]
        hits["sequences"] = [
            {"join_keys": [lookup(seq[0][2], k) for k in keys], "events": [_hit(e) for e in seq]}
            if keys
            else {"events": [_hit(e) for e in seq]}
            for seq in tail
        ]
    else:
        hits["events"] = [_hit(seq[0]) for seq in tail]
    return {"is_partial": False, "is_running": False, "took": 1, "timed_out": False, "hits": hits}
