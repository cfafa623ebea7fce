"""`StateStore` in one Elasticsearch index: checkpoints, per-rule leases and suppression.

Leases use optimistic concurrency: a replica reads the lease document, then writes it back
with `if_seq_no`/`if_primary_term` (or `create` when there is none). Of two replicas racing,
exactly one write succeeds; the other gets a 409 and skips the rule. A dead replica's lease
simply expires: `now` is an argument, so expiry is decided by the caller's clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from elasticsearch import ConflictError, Elasticsearch, NotFoundError

from eqlwatch.backends.base import Lease
from eqlwatch.backends.elasticsearch.client import CLIENT_ERRORS, call, translate
from eqlwatch.backends.elasticsearch.outbox import ElasticsearchOutbox
from eqlwatch.errors import DataError, Location
from eqlwatch.suppression import GroupState

STATE_MAPPINGS: Mapping[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "type": {"type": "keyword"},
        "key": {"type": "keyword"},
        "owner": {"type": "keyword"},
        "checkpoint": {"type": "date"},
        "expires": {"type": "date"},
        "updated": {"type": "date"},
        # Suppression buckets by group key (`eqlwatch.suppression.GroupState`): read back
        # whole, never searched, so not indexed.
        "groups": {"type": "object", "enabled": False},
        # A job's notification outbox (`outbox:<job>`, backends/elasticsearch/outbox.py).
        "outbox": {"type": "object", "enabled": False},
    },
}
STATE_SETTINGS: Mapping[str, Any] = {"index": {"hidden": True, "number_of_replicas": 0}}


def _doc_id(kind: str, key: str) -> str:
    return f"{kind}:{quote(key, safe='')}"


def _parse_time(value: Any, field: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise DataError(
            f"bad time {value!r} in state index", location=Location(field=field)
        ) from exc
    if parsed.tzinfo is None:
        raise DataError(f"time {value!r} has no timezone", location=Location(field=field))
    return parsed


class ElasticsearchStateStore:
    """Checkpoints, leases, suppression groups and outboxes as documents `checkpoint:<key>`,
    `lease:<key>`, `suppression:<key>` and `outbox:<job>` in one index."""

    def __init__(self, client: Elasticsearch, index: str) -> None:
        self._client = client
        self._index = index

    def _get(self, doc_id: str) -> Mapping[str, Any] | None:
        try:
            body: Mapping[str, Any] = self._client.get(index=self._index, id=doc_id).body
            return body
        except NotFoundError:
            return None
        except CLIENT_ERRORS as exc:
            raise translate(f"get {doc_id}", exc) from exc

    def outbox(self, job_id: str) -> ElasticsearchOutbox:
        """The job's notification outbox, a document of this index (docs/actions.md)."""
        return ElasticsearchOutbox(self._client, self._index, job_id)

    def get_checkpoint(self, key: str) -> datetime | None:
        doc = self._get(_doc_id("checkpoint", key))
        if doc is None:
            return None
        return _parse_time(doc["_source"]["checkpoint"], f"{self._index}/{key}.checkpoint")

    def set_checkpoint(self, key: str, value: datetime) -> None:
        if value.tzinfo is None:
            raise ValueError("checkpoint must be timezone-aware")
        document = {"type": "checkpoint", "key": key, "checkpoint": value.isoformat()}
        call(
            "set checkpoint",
            self._client.index,
            index=self._index,
            id=_doc_id("checkpoint", key),
            document=document,
            refresh="wait_for",
        )

    def get_suppression(self, key: str) -> dict[str, GroupState]:
        doc = self._get(_doc_id("suppression", key))
        groups = {} if doc is None else doc["_source"].get("groups") or {}
        out: dict[str, GroupState] = {}
        for group, record in groups.items():
            try:
                out[group] = GroupState.from_json(record)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise DataError(
                    f"suppression state of {key!r} is malformed ({exc!r})",
                    location=Location(field=f"{self._index}/suppression:{key}.groups.{group}"),
                ) from exc
        return out

    def set_suppression(self, key: str, groups: Mapping[str, GroupState]) -> None:
        document = {
            "type": "suppression",
            "key": key,
            "groups": {group: g.to_json() for group, g in sorted(groups.items())},
        }
        call(
            "save suppression",
            self._client.index,
            index=self._index,
            id=_doc_id("suppression", key),
            document=document,
            refresh="wait_for",
        )

    def acquire_lease(self, key: str, owner: str, now: datetime, ttl_s: float) -> Lease | None:
        """Take a free or expired lease, or renew our own; None when someone else holds it."""
        doc_id = _doc_id("lease", key)
        current = self._get(doc_id)
        lease = Lease(key=key, owner=owner, expires=now + timedelta(seconds=ttl_s))
        document = {
            "type": "lease",
            "key": key,
            "owner": owner,
            "expires": lease.expires.isoformat(),
            "updated": now.isoformat(),
        }
        try:
            if current is None:
                self._client.create(
                    index=self._index, id=doc_id, document=document, refresh="wait_for"
                )
                return lease
            source = current["_source"]
            expires = _parse_time(source["expires"], f"{self._index}/{key}.expires")
            if source.get("owner") != owner and expires > now:
                return None
            self._client.index(
                index=self._index,
                id=doc_id,
                document=document,
                if_seq_no=current["_seq_no"],
                if_primary_term=current["_primary_term"],
                refresh="wait_for",
            )
            return lease
        except ConflictError:
            return None
        except CLIENT_ERRORS as exc:
            raise translate(f"lease {key}", exc) from exc

    def release_lease(self, lease: Lease) -> None:
        """Delete the lease if it is still ours (a conflict means someone already took it)."""
        doc_id = _doc_id("lease", lease.key)
        current = self._get(doc_id)
        if current is None or current["_source"].get("owner") != lease.owner:
            return
        try:
            self._client.delete(
                index=self._index,
                id=doc_id,
                if_seq_no=current["_seq_no"],
                if_primary_term=current["_primary_term"],
                refresh="wait_for",
            )
        except (ConflictError, NotFoundError):
            return
        except CLIENT_ERRORS as exc:
            raise translate(f"release {lease.key}", exc) from exc
