"""`EventSource` over Elasticsearch: the cluster runs the EQL, one search per (rule, window).

Partial results, shard failures, timeouts and any answer that is not a well-formed EQL
response (`200 {}`, no `hits`, wrong types, no `total`) all mean "this window was not
evaluated" and raise `RetryableBackendError`, so the caller neither alerts on half an
answer nor takes garbage for zero hits, and does not advance its checkpoint. Long searches
go asynchronous and are polled, then deleted. `status` reads the watermark: the newest
event time across the job's indices.

The body is shaped for the cluster's version, read once per source (`GET /`): the
partial-result flags exist from 8.18 and older servers refuse them with 400. Those older
servers never return partial EQL results: a shard failure fails the whole search with an
error (5xx, retried), so the window is still never taken as complete.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from elasticsearch import ApiError, BadRequestError, Elasticsearch

from eqlwatch.backends.base import SourceStatus
from eqlwatch.backends.elasticsearch.client import (
    CLIENT_ERRORS,
    call,
    error_reason,
    error_type,
    translate,
)
from eqlwatch.backends.elasticsearch.optional_fields import make_optional, unknown_columns
from eqlwatch.backends.elasticsearch.redact import redact
from eqlwatch.backends.elasticsearch.version import (
    PARTIAL_FLAGS_FROM,
    StackVersion,
    cluster_version,
    require_supported,
)
from eqlwatch.errors import BackendError, QueryError, RetryableBackendError, UnsupportedRule
from eqlwatch.model import Hit, HitEvent, HitKind, SearchRequest, SearchResult, TimeWindow

MAX_OPTIONAL_REWRITES = 3


@dataclass(frozen=True, slots=True)
class EqlOptions:
    """Tuning of EQL searches; times are Elasticsearch duration strings or seconds."""

    fetch_size: int = 1000
    wait_for_completion_timeout: str = "10s"
    keep_alive: str = "5m"
    poll_interval_s: float = 1.0
    max_wait_s: float = 600.0


def es_time(value: datetime) -> str:
    """UTC, millisecond precision (what EQL sorts on), ISO 8601 with a `Z`."""
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )


def window_filter(
    timestamp_field: str,
    window: TimeWindow | None,
    extra: Mapping[str, Any] | None,
    *,
    selection_field: str | None = None,
    selection_fallback: bool = True,
) -> dict[str, Any] | None:
    """Query DSL limiting the search to [start, end) plus the rule's own filter, if any.

    With a selection field (the rule's `timestamp_override`) the range is on that field,
    and, unless the fallback is disabled, on `timestamp_field` for documents without it:
    the filter Kibana builds for such rules (the query still orders by `timestamp_field`).
    """
    clauses: list[Mapping[str, Any]] = []
    if window is not None:
        bounds = {"gte": es_time(window.start), "lt": es_time(window.end)}
        bounds["format"] = "strict_date_optional_time"
        if selection_field and selection_field != timestamp_field:
            should: list[dict[str, Any]] = [{"range": {selection_field: bounds}}]
            if selection_fallback:
                should.append(
                    {
                        "bool": {
                            "filter": [{"range": {timestamp_field: dict(bounds)}}],
                            "must_not": [{"exists": {"field": selection_field}}],
                        }
                    }
                )
            clauses.append({"bool": {"should": should, "minimum_should_match": 1}})
        else:
            clauses.append({"range": {timestamp_field: bounds}})
    if extra:
        clauses.append(extra)
    if not clauses:
        return None
    return {"bool": {"filter": clauses}}


def request_body(
    request: SearchRequest, query: str, options: EqlOptions, *, partial_flags: bool = True
) -> dict[str, Any]:
    """The EQL search body (spec: eql.search.Request); partial results always refused.

    `partial_flags`: whether the server knows `allow_partial_*` (8.18+); older ones never
    return partial results, and refuse the fields.
    """
    body: dict[str, Any] = {
        "query": query,
        "size": request.size,
        "fetch_size": options.fetch_size,
        "timestamp_field": request.timestamp_field,
        "event_category_field": request.event_category_field,
    }
    if partial_flags:
        body["allow_partial_search_results"] = False
        body["allow_partial_sequence_results"] = False
    body |= {
        "wait_for_completion_timeout": options.wait_for_completion_timeout,
        "keep_alive": options.keep_alive,
        "keep_on_completion": False,
    }
    if request.tiebreaker_field:
        body["tiebreaker_field"] = request.tiebreaker_field
    if request.max_samples_per_key != 1:
        body["max_samples_per_key"] = request.max_samples_per_key
    flt = window_filter(
        request.timestamp_field,
        request.window,
        request.filter,
        selection_field=request.selection_field,
        selection_fallback=request.selection_fallback,
    )
    if flt is not None:
        body["filter"] = flt
    return body


class MalformedResponse(RetryableBackendError):
    """The server answered 2xx with something that is not the response asked for."""


def _malformed(what: str, body: Any) -> MalformedResponse:
    shown = repr(redact(body))
    if len(shown) > 300:
        shown = shown[:300] + "…"
    return MalformedResponse(f"malformed EQL response ({what}); not taken as zero hits: {shown}")


def _event(raw: Any, body: Mapping[str, Any]) -> HitEvent:
    if not isinstance(raw, Mapping):
        raise _malformed("an event is not an object", body)
    index, doc_id, source = raw.get("_index"), raw.get("_id"), raw.get("_source")
    missing = raw.get("missing", False)
    if not isinstance(missing, bool):
        raise _malformed("an event's `missing` is not a boolean", body)
    if not missing and (not isinstance(index, str) or not isinstance(doc_id, str)):
        raise _malformed("an event without a string `_index` and `_id`", body)
    if source is not None and not isinstance(source, Mapping):
        raise _malformed("an event's `_source` is not an object", body)
    return HitEvent(
        index="" if index is None else str(index),
        id="" if doc_id is None else str(doc_id),
        source=source or {},
        missing=missing,
    )


def _list(hits: Mapping[str, Any], key: str, body: Mapping[str, Any]) -> list[Any]:
    value = hits.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _malformed(f"`hits.{key}` is not a list", body)
    return value


def _total(hits: Mapping[str, Any], body: Mapping[str, Any]) -> tuple[int, Literal["eq", "gte"]]:
    total = hits.get("total")
    if not isinstance(total, Mapping):
        raise _malformed("no `hits.total`", body)
    value, relation = total.get("value"), total.get("relation")
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _malformed("`hits.total.value` is not a count", body)
    if relation not in ("eq", "gte"):
        raise _malformed("`hits.total.relation` is neither eq nor gte", body)
    return value, "gte" if relation == "gte" else "eq"


def parse_response(body: Any, query: str) -> SearchResult:
    """An EQL response (spec: eql._types.EqlSearchResponseBase) as a `SearchResult`.

    Anything else raises `RetryableBackendError`: an empty object, missing or mistyped
    `hits`, `total`, `events`, `sequences` must never read as "nothing matched".
    """
    if not isinstance(body, Mapping):
        raise _malformed("the body is not an object", body)
    if body.get("is_partial") or body.get("timed_out") or body.get("shard_failures"):
        failures = body.get("shard_failures") or []
        count = len(failures) if isinstance(failures, list) else "?"
        raise RetryableBackendError(
            f"EQL search not fully evaluated (is_partial={body.get('is_partial')}, "
            f"timed_out={body.get('timed_out')}, shard_failures={count})"
        )
    if body.get("is_running"):
        raise _malformed("the search is still running", body)
    hits = body.get("hits")
    if not isinstance(hits, Mapping):
        raise _malformed("no `hits` object", body)
    total, relation = _total(hits, body)
    found: list[Hit] = [
        Hit(kind="event", events=(_event(e, body),)) for e in _list(hits, "events", body)
    ]
    kind: HitKind = "sample" if query.lstrip().lower().startswith("sample") else "sequence"
    for seq in _list(hits, "sequences", body):
        if not isinstance(seq, Mapping):
            raise _malformed("a sequence is not an object", body)
        events = tuple(_event(e, body) for e in _list(seq, "events", body))
        if not events:
            raise _malformed("a sequence without events", body)
        join_keys = seq.get("join_keys") or ()
        if not isinstance(join_keys, list | tuple):
            raise _malformed("a sequence's `join_keys` is not a list", body)
        found.append(Hit(kind=kind, events=events, join_keys=tuple(join_keys)))
    if total < len(found):
        raise _malformed(f"`hits.total` {total} is below the {len(found)} hits returned", body)
    took = body.get("took", 0)
    return SearchResult(
        hits=tuple(found),
        total=total,
        relation=relation,
        took_ms=took if isinstance(took, int) and not isinstance(took, bool) else 0,
    )


def parse_newest(body: Any) -> datetime | None:
    """The max aggregation of a size-0 search (spec: aggregations.MaxAggregate) as a time.

    `value` is epoch milliseconds for date fields, null when no document has the field.
    """
    if not isinstance(body, Mapping):
        raise MalformedResponse(f"malformed watermark response: {redact(body)!r:.300}")
    shards = body.get("_shards")
    if isinstance(shards, Mapping) and shards.get("failed"):
        raise RetryableBackendError(
            f"watermark search not fully evaluated: {shards.get('failed')} shard(s) failed"
        )
    aggs = body.get("aggregations")
    if aggs is None and isinstance(shards, Mapping) and shards.get("total") == 0:
        return None  # no index matched the patterns: no data yet
    newest = aggs.get("newest") if isinstance(aggs, Mapping) else None
    if not isinstance(newest, Mapping) or "value" not in newest:
        raise MalformedResponse(f"malformed watermark response: {redact(body)!r:.300}")
    value = newest["value"]
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedResponse(f"watermark is not a number: {redact(value)!r:.100}")
    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise MalformedResponse(f"watermark {value!r} is not a time: {exc}") from None


class ElasticsearchEventSource:
    """Runs each `SearchRequest` as one EQL search on the cluster (sync, or async when long)."""

    def __init__(
        self,
        client: Elasticsearch,
        options: EqlOptions | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        version: StackVersion | None = None,
    ) -> None:
        self._client = client
        self._version = version
        self._options = options or EqlOptions()
        self._sleep = sleep
        self._monotonic = monotonic

    def status(self, indices: tuple[str, ...], timestamp_field: str) -> SourceStatus:
        """The newest `timestamp_field` across `indices` (a max aggregation, size 0).

        No index yet (`index_not_found_exception`, or patterns matching nothing) is no data
        yet, not an error: newest None, the rule waits for data.
        """
        index = ",".join(indices) or "*"
        try:
            response = self._client.search(
                index=index,
                size=0,
                track_total_hits=False,
                aggs={"newest": {"max": {"field": timestamp_field}}},
                ignore_unavailable=True,
                allow_no_indices=True,
            )
        except ApiError as exc:
            if exc.meta.status == 404 and error_type(exc) == "index_not_found_exception":
                return SourceStatus(newest=None)
            raise translate("watermark search", exc) from exc
        except CLIENT_ERRORS as exc:
            raise translate("watermark search", exc) from exc
        return SourceStatus(newest=parse_newest(response.body))

    def search(self, request: SearchRequest) -> SearchResult:
        query = request.query
        warnings: list[str] = []
        for _ in range(MAX_OPTIONAL_REWRITES + 1):
            try:
                body = self._run(request, query)
            except BadRequestError as exc:
                missing = unknown_columns(error_reason(exc))
                if error_type(exc) != "verification_exception" or not missing:
                    raise QueryError(
                        f"Elasticsearch rejected the query: {error_reason(exc)}"
                    ) from exc
                query = make_optional(query, missing)
                warnings.append(f"fields unmapped in {','.join(request.indices)}: {missing}")
                continue
            result = parse_response(body, request.query)
            if not warnings:
                return result
            return SearchResult(
                result.hits, result.total, result.relation, result.took_ms, tuple(warnings)
            )
        raise QueryError(f"query still names unknown fields after rewriting: {query}")

    def version(self) -> StackVersion:
        """The cluster's version, read once (`GET /`); outside the supported range: an error."""
        if self._version is None:
            self._version = require_supported(cluster_version(self._client))
        return self._version

    def _run(self, request: SearchRequest, query: str) -> Mapping[str, Any]:
        """One search; a BadRequestError escapes so `search` can rewrite unknown fields."""
        index = ",".join(request.indices)
        version = self.version()
        if request.min_stack_version:
            needed = StackVersion.parse(request.min_stack_version)
            if not version.at_least(needed):
                raise UnsupportedRule(
                    f"needs Elastic Stack {request.min_stack_version} (min_stack_version), "
                    f"the cluster runs {version}"
                )
        partial_flags = version.at_least(PARTIAL_FLAGS_FROM)
        body = request_body(request, query, self._options, partial_flags=partial_flags)
        try:
            response = self._client.eql.search(index=index, **body)
        except BadRequestError:
            raise
        except CLIENT_ERRORS as exc:
            raise translate("eql.search", exc) from exc
        data: Any = response.body
        if not isinstance(data, Mapping):
            raise _malformed("the body is not an object", data)
        if data.get("is_running") and data.get("id"):
            return self._wait(str(data["id"]))
        return data

    def _wait(self, search_id: str) -> Mapping[str, Any]:
        """Poll an async search until it completes or `max_wait_s` passes; always delete it."""
        deadline = self._monotonic() + self._options.max_wait_s
        try:
            while True:
                self._sleep(self._options.poll_interval_s)
                response = call(
                    "eql.get",
                    self._client.eql.get,
                    id=search_id,
                    wait_for_completion_timeout=self._options.wait_for_completion_timeout,
                    keep_alive=self._options.keep_alive,
                )
                data: Any = response.body
                if not isinstance(data, Mapping):
                    raise _malformed("the body is not an object", data)
                if not data.get("is_running"):
                    return data
                if self._monotonic() >= deadline:
                    raise RetryableBackendError(
                        f"async EQL search {search_id} still running after "
                        f"{self._options.max_wait_s:.0f}s"
                    )
        finally:
            self._delete(search_id)

    def _delete(self, search_id: str) -> None:
        # it expires after keep_alive anyway; never mask the real outcome
        with contextlib.suppress(BackendError):
            call("eql.delete", self._client.eql.delete, id=search_id)
