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
from typing import Any, Literal, Protocol

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
