"""Checkpoints and leases in one JSON file, written atomically and guarded by a file lock.

Atomic replace (write a temp file, fsync, rename) means a crash leaves either the old or
the new state, never a torn file; the lock lets several processes on one host share it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from eqlwatch.backends.base import Lease
from eqlwatch.errors import DataError, Location

STATE_VERSION = 1


class LocalStateStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        """Read-modify-write under an exclusive lock; the yielded dict is saved on exit."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        with lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = self._read()
            before = orjson.dumps(state, option=orjson.OPT_SORT_KEYS)
            yield state
            if orjson.dumps(state, option=orjson.OPT_SORT_KEYS) != before:
                self._write(state)

    def _read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"version": STATE_VERSION, "checkpoints": {}, "leases": {}}
        try:
            state = orjson.loads(self.path.read_bytes())
        except orjson.JSONDecodeError as exc:
            raise DataError(
                f"state file is not valid JSON ({exc}); fix or remove it",
                location=Location(file=str(self.path)),
            ) from exc
        if not isinstance(state, dict) or not isinstance(state.get("checkpoints"), dict):
            raise DataError(
                "state file has no 'checkpoints' object", location=Location(file=str(self.path))
            )
        state.setdefault("leases", {})
        return state

    def _write(self, state: dict[str, Any]) -> None:
        data = orjson.dumps(state, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
        fd, tmp = tempfile.mkstemp(prefix=self.path.name, dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def get_checkpoint(self, key: str) -> datetime | None:
        with self._locked() as state:
            value = state["checkpoints"].get(key)
        return None if value is None else datetime.fromisoformat(value)

    def set_checkpoint(self, key: str, value: datetime) -> None:
        if value.tzinfo is None:
            raise ValueError("checkpoints must be timezone-aware")
        with self._locked() as state:
            state["checkpoints"][key] = value.isoformat()

    def acquire_lease(self, key: str, owner: str, now: datetime, ttl_s: float) -> Lease | None:
        with self._locked() as state:
            held = state["leases"].get(key)
            if (
                held is not None
                and held["owner"] != owner
                and datetime.fromisoformat(held["expires"]) > now
            ):
                return None
            lease = Lease(key=key, owner=owner, expires=now + timedelta(seconds=ttl_s))
            state["leases"][key] = {"owner": owner, "expires": lease.expires.isoformat()}
            return lease

    def release_lease(self, lease: Lease) -> None:
        with self._locked() as state:
            held = state["leases"].get(lease.key)
            if held is not None and held["owner"] == lease.owner:
                del state["leases"][lease.key]
