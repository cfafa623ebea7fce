"""`EventSource` over Elasticsearch: the cluster runs the EQL, one search per (rule, window).

Partial results, shard failures and timeouts all mean "this window was not evaluated" and
raise `RetryableBackendError`, so the caller neither alerts on half an answer nor advances
its checkpoint. Long searches go asynchronous and are polled, then deleted.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from elasticsearch import BadRequestError, Elasticsearch

from eqlwatch.backends.elasticsearch.client import (
    CLIENT_ERRORS,
    call,
    error_reason,
    error_type,
    translate,
)
from eqlwatch.backends.elasticsearch.optional_fields import make_optional, unknown_columns
from eqlwatch.errors import BackendError, QueryError, RetryableBackendError
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
    timestamp_field: str, window: TimeWindow | None, extra: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """Query DSL limiting the search to [start, end) plus the rule's own filter, if any."""
    clauses: list[Mapping[str, Any]] = []
    if window is not None:
        bounds = {"gte": es_time(window.start), "lt": es_time(window.end)}
        bounds["format"] = "strict_date_optional_time"
        clauses.append({"range": {timestamp_field: bounds}})
    if extra:
        clauses.append(extra)
    if not clauses:
        return None
    return {"bool": {"filter": clauses}}


def request_body(request: SearchRequest, query: str, options: EqlOptions) -> dict[str, Any]:
    """The EQL search body (spec: eql.search.Request); partial results always refused."""
    body: dict[str, Any] = {
        "query": query,
        "size": request.size,
        "fetch_size": options.fetch_size,
        "timestamp_field": request.timestamp_field,
        "event_category_field": request.event_category_field,
        "allow_partial_search_results": False,
        "allow_partial_sequence_results": False,
        "wait_for_completion_timeout": options.wait_for_completion_timeout,
        "keep_alive": options.keep_alive,
        "keep_on_completion": False,
    }
    if request.tiebreaker_field:
        body["tiebreaker_field"] = request.tiebreaker_field
    if request.max_samples_per_key != 1:
        body["max_samples_per_key"] = request.max_samples_per_key
    flt = window_filter(request.timestamp_field, request.window, request.filter)
    if flt is not None:
        body["filter"] = flt
    return body


def _event(raw: Mapping[str, Any]) -> HitEvent:
    return HitEvent(
        index=str(raw["_index"]),
        id=str(raw["_id"]),
        source=raw.get("_source") or {},
        missing=bool(raw.get("missing", False)),
    )


def parse_response(body: Mapping[str, Any], query: str) -> SearchResult:
    """An EQL response (spec: eql._types.EqlSearchResponseBase) as a `SearchResult`."""
    if body.get("is_partial") or body.get("timed_out") or body.get("shard_failures"):
        failures = body.get("shard_failures") or []
        raise RetryableBackendError(
            f"EQL search not fully evaluated (is_partial={body.get('is_partial')}, "
            f"timed_out={body.get('timed_out')}, shard_failures={len(failures)})"
        )
    hits = body.get("hits") or {}
    found: list[Hit] = [Hit(kind="event", events=(_event(e),)) for e in hits.get("events") or []]
    kind: HitKind = "sample" if query.lstrip().lower().startswith("sample") else "sequence"
    for seq in hits.get("sequences") or []:
        events = tuple(_event(e) for e in seq.get("events") or [])
        found.append(Hit(kind=kind, events=events, join_keys=tuple(seq.get("join_keys") or ())))
    total = hits.get("total") or {"value": len(found), "relation": "eq"}
    relation: Literal["eq", "gte"] = "gte" if total.get("relation") == "gte" else "eq"
    return SearchResult(
        hits=tuple(found),
        total=int(total.get("value", len(found))),
        relation=relation,
        took_ms=int(body.get("took", 0)),
    )


class ElasticsearchEventSource:
    """Runs each `SearchRequest` as one EQL search on the cluster (sync, or async when long)."""

    def __init__(
        self,
        client: Elasticsearch,
        options: EqlOptions | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._options = options or EqlOptions()
        self._sleep = sleep
        self._monotonic = monotonic

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

    def _run(self, request: SearchRequest, query: str) -> Mapping[str, Any]:
        """One search; a BadRequestError escapes so `search` can rewrite unknown fields."""
        index = ",".join(request.indices)
        body = request_body(request, query, self._options)
        try:
            response = self._client.eql.search(index=index, **body)
        except BadRequestError:
            raise
        except CLIENT_ERRORS as exc:
            raise translate("eql.search", exc) from exc
        data: Mapping[str, Any] = response.body
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
                data: Mapping[str, Any] = response.body
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
