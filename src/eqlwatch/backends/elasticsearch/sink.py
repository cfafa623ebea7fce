"""`AlertSink` over an Elasticsearch data stream, exactly once even across rollovers.

A data stream only enforces `_id` uniqueness inside one backing index, so `create` with the
deterministic id alone would let a second copy through after a rollover. Before writing,
the sink asks the whole stream (every backing index) which ids already exist with an `ids`
query, and writes only the others with `create`; a 409 still counts as already written.
Writes use `refresh=wait_for`, so the next existence check sees them. Leases keep two
replicas from writing the same rule's alerts at the same moment.

Only an item that really landed counts as created: on 9.x a data stream with a failure
store answers `2xx` with `failure_store: "used"` for a document that failed its mapping
or pipeline; that document is not in the stream, so it is a failure like any error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from elasticsearch import ConflictError, Elasticsearch, helpers

from eqlwatch.backends.elasticsearch.client import (
    CLIENT_ERRORS,
    RETRYABLE_STATUS,
    call,
    translate,
)
from eqlwatch.errors import BackendError, RetryableBackendError
from eqlwatch.model import Alert, WriteResult
from eqlwatch.pipeline.reports import Report
from eqlwatch.suppression import Version, fields_of, set_fields, with_fields

log = structlog.get_logger(__name__)

IDS_PER_QUERY = 1000


@dataclass(frozen=True, slots=True)
class BulkOptions:
    """Bulk tuning; backoff doubles from `initial_backoff_s` up to `max_backoff_s`."""

    chunk_size: int = 500
    max_retries: int = 5
    initial_backoff_s: float = 1.0
    max_backoff_s: float = 60.0


def _hits_by_id(
    client: Elasticsearch, target: str, ids: Sequence[str], what: str, **options: Any
) -> Iterator[Mapping[str, Any]]:
    """The hits of an `ids` query over every backing index of `target`, in chunks."""
    for start in range(0, len(ids), IDS_PER_QUERY):
        chunk = list(ids[start : start + IDS_PER_QUERY])
        response = call(
            what,
            client.search,
            index=target,
            query={"ids": {"values": chunk}},
            size=len(chunk),
            ignore_unavailable=True,
            allow_no_indices=True,
            **options,
        )
        yield from response.body["hits"]["hits"]


def existing_ids(client: Elasticsearch, target: str, ids: Sequence[str]) -> set[str]:
    """Which of `ids` any backing index of `target` already holds (missing target: none)."""
    hits = _hits_by_id(client, target, ids, "search ids", source=False)
    return {str(h["_id"]) for h in hits}


def _actions(target: str, alerts: Sequence[Alert], stamp: str) -> Iterator[dict[str, Any]]:
    """Bulk `create` actions; a document without `@timestamp` gets the write time."""
    for alert in alerts:
        source = dict(alert.document)
        source.setdefault("@timestamp", stamp)
        yield {"_op_type": "create", "_index": target, "_id": alert.id, "_source": source}


def _item_status(item: Mapping[str, Any]) -> tuple[int, Mapping[str, Any]]:
    (result,) = item.values()
    return int(result.get("status", 0)), result


def redirected(result: Mapping[str, Any]) -> bool:
    """True when a 2xx bulk item went to the failure store, not to the data stream (9.x)."""
    return result.get("failure_store") == "used"


def bulk_create(
    client: Elasticsearch,
    target: str,
    alerts: Sequence[Alert],
    options: BulkOptions,
    stamp: str,
) -> WriteResult:
    """`create` every alert; 409 = already there; 429 retried with backoff; other failures raise."""
    created = existing = 0
    failures: list[tuple[int, str]] = []
    try:
        for _ok, item in helpers.streaming_bulk(
            client,
            _actions(target, alerts, stamp),
            chunk_size=options.chunk_size,
            max_retries=options.max_retries,
            initial_backoff=options.initial_backoff_s,
            max_backoff=options.max_backoff_s,
            raise_on_error=False,
            retry_on_status=(429,),
            refresh="wait_for",
        ):
            status, result = _item_status(item)
            if 200 <= status < 300 and redirected(result):
                failures.append(
                    (
                        status,
                        f"document {result.get('_id')} went to the failure "
                        "store (mapping or pipeline failure), not to the data stream",
                    )
                )
            elif 200 <= status < 300:
                created += 1
            elif status == 409:
                existing += 1
            else:
                failures.append((status, str(result.get("error", ""))[:300]))
    except CLIENT_ERRORS as exc:
        raise translate("bulk", exc) from exc
    if failures:
        status, reason = failures[0]
        message = f"bulk: {len(failures)} of {len(alerts)} documents failed, first HTTP {status}"
        if all(s in RETRYABLE_STATUS for s, _ in failures):
            raise RetryableBackendError(f"{message}: {reason}")
        raise BackendError(f"{message}: {reason}")
    return WriteResult(created=created, existing=existing)


class ElasticsearchAlertSink:
    """Writes alerts to a data stream, each alert id at most once across all backing indices."""

    def __init__(
        self,
        client: Elasticsearch,
        data_stream: str,
        options: BulkOptions | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self._target = data_stream
        self._options = options or BulkOptions()
        self._clock = clock

    def write(self, alerts: Sequence[Alert]) -> WriteResult:
        unique = list({a.id: a for a in alerts}.values())
        if not unique:
            return WriteResult(created=0, existing=0)
        present = existing_ids(self._client, self._target, [a.id for a in unique])
        todo = [a for a in unique if a.id not in present]
        stamp = self._clock().isoformat()
        result = None
        if todo:
            result = bulk_create(self._client, self._target, todo, self._options, stamp)
        created = result.created if result else 0
        already = len(present) + (result.existing if result else 0)
        return WriteResult(created=created, existing=already + len(alerts) - len(unique))

    def suppress(self, versions: Sequence[Version]) -> WriteResult:
        """Creates each new bucket's alert; updates the others in their backing index."""
        latest = {v.alert_id: v for v in versions}
        if not latest:
            return WriteResult(created=0, existing=0)
        held = held_documents(self._client, self._target, list(latest))
        fresh: list[Alert] = []
        existing = 0
        for ident, version in latest.items():
            current = held.get(ident)
            if current is None and version.first is None:
                log.warning("suppressed alert not in the data stream; update dropped", id=ident)
            elif current is None:
                assert version.first is not None
                fresh.append(with_fields(version.first, version.fields))
            else:
                existing += 1
                if fields_of(current.source) != version.fields:
                    doc = set_fields(current.source, version.fields)
                    update_held(self._client, ident, current, doc)
        created = 0
        if fresh:
            stamp = self._clock().isoformat()
            result = bulk_create(self._client, self._target, fresh, self._options, stamp)
            created, existing = result.created, existing + result.existing
        return WriteResult(created=created, existing=existing)


@dataclass(frozen=True, slots=True)
class Held:
    """Where a document lives in a data stream: its backing index and version stamp."""

    index: str
    seq_no: int
    primary_term: int
    source: Mapping[str, Any]


def held_documents(client: Elasticsearch, target: str, ids: Sequence[str]) -> dict[str, Held]:
    """The documents of `ids` any backing index of `target` holds, with `_seq_no`."""
    found: dict[str, Held] = {}
    hits = _hits_by_id(client, target, ids, "search suppressed alerts", seq_no_primary_term=True)
    for hit in hits:
        found[str(hit["_id"])] = Held(
            str(hit["_index"]), int(hit["_seq_no"]), int(hit["_primary_term"]), hit["_source"]
        )
    return found


def update_held(client: Elasticsearch, alert_id: str, held: Held, doc: Mapping[str, Any]) -> None:
    """Replace one document in its backing index, only if nobody changed it since we read
    it (`if_seq_no`/`if_primary_term`); a conflict is retried by the runner, which reads
    again and writes the same absolute values."""
    try:
        client.index(
            index=held.index,
            id=alert_id,
            document=dict(doc),
            op_type="index",
            if_seq_no=held.seq_no,
            if_primary_term=held.primary_term,
            refresh="wait_for",
        )
    except ConflictError as exc:
        raise RetryableBackendError(f"suppressed alert {alert_id} changed meanwhile") from exc
    except CLIENT_ERRORS as exc:
        raise translate(f"update suppressed alert {alert_id}", exc) from exc


class ElasticsearchRunReports:
    """Appends run reports (rule, window, hits, alerts, duration, errors) to their data stream.

    Implements `eqlwatch.pipeline.reports.ReportSink`; reports have no natural id, so each is
    written once with an auto id (a lost report is a gap in a dashboard, not in detection).
    """

    def __init__(
        self, client: Elasticsearch, data_stream: str, options: BulkOptions | None = None
    ) -> None:
        self._client = client
        self._target = data_stream
        self._options = options or BulkOptions()

    def write_reports(self, reports: Sequence[Report]) -> None:
        actions = [
            {"_op_type": "create", "_index": self._target, "_source": r.to_document()}
            for r in reports
        ]
        try:
            for ok, item in helpers.streaming_bulk(
                self._client,
                actions,
                max_retries=self._options.max_retries,
                initial_backoff=self._options.initial_backoff_s,
                max_backoff=self._options.max_backoff_s,
                raise_on_error=False,
            ):
                status, result = _item_status(item)
                if not ok or redirected(result):
                    error = result.get("error") or "sent to the failure store"
                    raise BackendError(f"run report rejected: HTTP {status} {error}")
        except CLIENT_ERRORS as exc:
            raise translate("bulk run reports", exc) from exc
