"""A job's notification outbox in the Elasticsearch state index, beside its checkpoints.

One document, `outbox:<job>`, holds what the local outbox file holds. There is no lock
across replicas, so a transaction reads the document with its `_seq_no`/`_primary_term` and
writes it back only if nobody wrote in between (`create` when there was none). On a 409 it
reads the other writer's version and applies its own changes onto it (`actions.outbox.merge`)
before trying again: neither replica's messages are lost, and a message both sent carries
the same idempotency key. Transient failures (5xx, refused connections) surface as
`RetryableBackendError`; the caller replays, and delivery ids make a replay add nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from elasticsearch import ConflictError, Elasticsearch, NotFoundError

from eqlwatch.actions.outbox import OutboxState, merge
from eqlwatch.backends.elasticsearch.client import CLIENT_ERRORS, translate
from eqlwatch.errors import DataError, Location, RetryableBackendError

MAX_CONFLICTS = 8


class ElasticsearchOutbox:
    """`OutboxStore` over the document `outbox:<job>` of the state index."""

    def __init__(self, client: Elasticsearch, index: str, job_id: str) -> None:
        self._client = client
        self._index = index
        self._job_id = job_id
        self.doc_id = f"outbox:{quote(job_id, safe='')}"

    @contextmanager
    def transaction(self) -> Iterator[OutboxState]:
        base, seq = self._read()
        state = OutboxState.from_json(base.to_json())  # a copy: `base` stays as read
        yield state
        self._commit(base, state, seq)

    def _commit(self, base: OutboxState, ours: OutboxState, seq: tuple[int, int] | None) -> None:
        if ours.to_json() == base.to_json():
            return  # nothing changed: no write (deliver() with nothing due, a replay)
        state = ours
        for _ in range(MAX_CONFLICTS):
            try:
                self._write(state, seq)
                return
            except ConflictError:
                theirs, seq = self._read()
                state = merge(base, ours, theirs)
                # `theirs` is the new base: what we applied onto it is ours again next time.
                base, ours = theirs, state
            except CLIENT_ERRORS as exc:
                raise translate(f"save outbox {self.doc_id}", exc) from exc
        raise RetryableBackendError(
            f"save outbox {self.doc_id}: {MAX_CONFLICTS} concurrent writers in a row"
        )

    def _write(self, state: OutboxState, seq: tuple[int, int] | None) -> None:
        document = {
            "type": "outbox",
            "key": self._job_id,
            "updated": datetime.now(UTC).isoformat(),
            "outbox": state.to_json(),
        }
        if seq is None:
            self._client.create(
                index=self._index, id=self.doc_id, document=document, refresh="wait_for"
            )
        else:
            self._client.index(
                index=self._index,
                id=self.doc_id,
                document=document,
                if_seq_no=seq[0],
                if_primary_term=seq[1],
                refresh="wait_for",
            )

    def _read(self) -> tuple[OutboxState, tuple[int, int] | None]:
        try:
            body: Mapping[str, Any] = self._client.get(index=self._index, id=self.doc_id).body
        except NotFoundError:
            return OutboxState(), None
        except CLIENT_ERRORS as exc:
            raise translate(f"read outbox {self.doc_id}", exc) from exc
        try:
            state = OutboxState.from_json(body["_source"]["outbox"])
        except (ValueError, KeyError, TypeError) as exc:
            # Never start over silently: that would drop owed messages or re-send sent ones.
            raise DataError(
                f"the outbox is damaged ({exc!r}); fix or delete the document",
                location=Location(field=f"{self._index}/{self.doc_id}.outbox"),
            ) from None
        return state, (int(body["_seq_no"]), int(body["_primary_term"]))
