"""The durable outbox: every notification owed, kept until it is sent or given up.

An alert is written first; its notifications are then recorded here before any is sent, so
a crash, a restart or a target that is down loses nothing: the next run sends what is still
pending. Each delivery's id is derived from the action and the alert ids, so recording the
same alerts again (a replayed window) adds nothing, and the id doubles as the idempotency key
a receiver sees on every retry of the same message.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from eqlwatch.backends.filelock import exclusive, write_atomic
from eqlwatch.errors import DataError, Location

Status = Literal["pending", "sent", "gave_up", "throttled"]
KEEP_FINISHED = timedelta(days=7)


def delivery_id(action: str, alert_ids: Sequence[str]) -> str:
    digest = hashlib.sha256("\x1f".join((action, *alert_ids)).encode()).hexdigest()
    return digest[:32]


@dataclass
class Delivery:
    id: str
    action: str
    alert_ids: list[str]
    title: str
    body: str
    created: datetime
    next_try: datetime
    status: Status = "pending"
    attempts: int = 0
    last_error: str = ""
    finished: datetime | None = None

    def to_json(self) -> dict[str, object]:
        body = asdict(self)
        for key in ("created", "next_try", "finished"):
            value = body[key]
            body[key] = value.isoformat() if isinstance(value, datetime) else None
        return body

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Delivery:
        values = dict(data)
        for key in ("created", "next_try", "finished"):
            raw = values.get(key)
            values[key] = datetime.fromisoformat(raw) if isinstance(raw, str) else None
        return cls(**values)  # type: ignore[arg-type]


@dataclass
class OutboxState:
    """Deliveries by id; throttle marks by key; `batches`: per summary route, the alert
    documents of the summary not yet owed (closed into one delivery at the end of a run)."""

    deliveries: dict[str, Delivery] = field(default_factory=dict)
    throttle: dict[str, datetime] = field(default_factory=dict)
    batches: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "deliveries": [d.to_json() for d in self.deliveries.values()],
            "throttle": {k: t.isoformat() for k, t in self.throttle.items()},
            "batches": self.batches,
        }

    @classmethod
    def from_json(cls, data: Any) -> OutboxState:
        """Raises ValueError, KeyError or TypeError on a damaged outbox (the caller says where)."""
        deliveries = {d["id"]: Delivery.from_json(d) for d in data["deliveries"]}
        throttle = {k: datetime.fromisoformat(v) for k, v in data["throttle"].items()}
        batches = data.get("batches") or {}
        if not isinstance(batches, dict) or not all(isinstance(b, list) for b in batches.values()):
            raise TypeError("'batches' must map routes to lists of alerts")
        return cls(deliveries, throttle, {str(k): list(v) for k, v in batches.items()})

    def due(self, now: datetime) -> list[Delivery]:
        pending = [d for d in self.deliveries.values() if d.status == "pending"]
        return sorted((d for d in pending if d.next_try <= now), key=lambda d: d.created)

    def prune(self, now: datetime) -> None:
        """Forget finished deliveries (and throttle marks) older than a week."""
        horizon = now - KEEP_FINISHED
        self.deliveries = {
            k: d
            for k, d in self.deliveries.items()
            if d.status == "pending" or (d.finished or d.created) >= horizon
        }
        self.throttle = {k: t for k, t in self.throttle.items() if t >= horizon}


class OutboxStore(Protocol):
    """Where the outbox lives; `transaction` gives exclusive, all-or-nothing access."""

    def transaction(self) -> AbstractContextManager[OutboxState]: ...


class LocalOutbox:
    """A JSON file beside the state file, replaced atomically under an exclusive lock."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def transaction(self) -> Iterator[OutboxState]:
        with exclusive(self.path):
            state = self._read()
            yield state
            self._write(state)

    def _read(self) -> OutboxState:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return OutboxState()
        except OSError as exc:
            raise DataError(
                f"cannot read the outbox: {exc.strerror}", location=self._where()
            ) from None
        try:
            return OutboxState.from_json(json.loads(raw))
        except (ValueError, KeyError, TypeError) as exc:
            # Never start over silently: that would drop owed messages or re-send sent ones.
            raise DataError(
                f"the outbox is damaged ({exc}); fix or move it aside", location=self._where()
            ) from None

    def _write(self, state: OutboxState) -> None:
        payload = json.dumps(state.to_json(), ensure_ascii=False, default=str)
        write_atomic(self.path, payload.encode("utf-8"))

    def _where(self) -> Location:
        return Location(file=str(self.path))


_PROGRESS = {"pending": 0, "throttled": 1, "gave_up": 2, "sent": 3}


def _further(a: Delivery, b: Delivery) -> Delivery:
    """Of two versions of one delivery changed by two writers, the one further along."""
    return max((a, b), key=lambda d: (_PROGRESS[d.status], d.attempts))


def _alert_id(document: Any) -> Any:
    eqlwatch = document.get("eqlwatch") if isinstance(document, dict) else None
    return eqlwatch.get("alert_id") if isinstance(eqlwatch, dict) else None


def merge(base: OutboxState, ours: OutboxState, theirs: OutboxState) -> OutboxState:
    """Our changes since `base` applied onto `theirs` (another writer's, committed first).

    For stores without a lock (Elasticsearch: optimistic concurrency), so that two replicas
    writing at once lose neither's messages. Per delivery: what only one side changed wins;
    changed on both, the version further along (sent > given up > throttled > pending, then
    more attempts); a delivery we pruned goes only if they left it as it was. Throttle
    marks: the later. Summary batches: their alerts minus those we closed into a message,
    plus those we added.
    """
    deliveries = dict(theirs.deliveries)
    for key, mine in ours.deliveries.items():
        before = base.deliveries.get(key)
        if mine == before:
            continue
        other = deliveries.get(key)
        deliveries[key] = mine if other is None or other == before else _further(mine, other)
    for key, before in base.deliveries.items():
        if key not in ours.deliveries and deliveries.get(key) == before:
            del deliveries[key]
    throttle = dict(theirs.throttle)
    for key, when in ours.throttle.items():
        throttle[key] = max(when, throttle.get(key, when))
    batches: dict[str, list[dict[str, Any]]] = {}
    for route in {*theirs.batches, *ours.batches}:
        had = {_alert_id(d) for d in base.batches.get(route, [])}
        kept = {_alert_id(d) for d in ours.batches.get(route, [])}
        closed = had - kept
        merged = [d for d in theirs.batches.get(route, []) if _alert_id(d) not in closed]
        seen = {_alert_id(d) for d in merged}
        merged += [
            d
            for d in ours.batches.get(route, [])
            if _alert_id(d) not in had and _alert_id(d) not in seen
        ]
        if merged:
            batches[route] = merged
    return OutboxState(deliveries, throttle, batches)


@runtime_checkable
class HoldsOutbox(Protocol):
    """A state store that keeps a job's outbox with its checkpoints."""

    def outbox(self, job_id: str) -> OutboxStore: ...
