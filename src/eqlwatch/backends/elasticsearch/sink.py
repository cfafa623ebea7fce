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

from elasticsearch import Elasticsearch, helpers

from eqlwatch.backends.elasticsearch.client import (
    CLIENT_ERRORS,
    RETRYABLE_STATUS,
    call,
    translate,
)
from eqlwatch.errors import BackendError, RetryableBackendError
from eqlwatch.model import Alert, WriteResult
from eqlwatch.pipeline.reports import RunReport

IDS_PER_QUERY = 1000


@dataclass(frozen=True, slots=True)
class BulkOptions:
    """Bulk tuning; backoff doubles from `initial_backoff_s` up to `max_backoff_s`."""

    chunk_size: int = 500
    max_retries: int = 5
    initial_backoff_s: float = 1.0
    max_backoff_s: float = 60.0


def existing_ids(client: Elasticsearch, target: str, ids: Sequence[str]) -> set[str]:
    """Which of `ids` any backing index of `target` already holds (missing target: none)."""
    found: set[str] = set()
    for start in range(0, len(ids), IDS_PER_QUERY):
        chunk = list(ids[start : start + IDS_PER_QUERY])
        response = call(
            "search ids",
            client.search,
            index=target,
            query={"ids": {"values": chunk}},
            source=False,
            size=len(chunk),
            ignore_unavailable=True,
            allow_no_indices=True,
        )
        found.update(str(h["_id"]) for h in response.body["hits"]["hits"])
    return found


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

    def write_reports(self, reports: Sequence[RunReport]) -> None:
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
