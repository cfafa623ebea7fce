"""Checkpoints and leases in one JSON file, written atomically and guarded by a file lock.

Atomic replace (write a temp file, fsync, rename) means a crash leaves either the old or
the new state, never a torn file; the lock (`state.json.lock`) lets several processes on
one host share it. Every change of a checkpoint is followed by the same content written
atomically to a backup (`state.bak.json`), so a state file damaged by something else (a
tool, an editor, a disk) is recovered from the backup, never silently reset to "no
checkpoint": a reset would replay or skip. The backup is written second, so it is never
ahead of the state file; recovering from it can only replay (and alert ids make a replay
write nothing twice). Both damaged is an error naming the files. To start over, remove
both.

A lease records its owner, host, pid and start. A lease whose process is gone (same host,
pid not alive, or alive but a different process) is taken over at once, so a `kill -9`
does not block the rule until the lease expires.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import structlog

from eqlwatch.actions.outbox import LocalOutbox
from eqlwatch.backends.base import Lease
from eqlwatch.backends.filelock import exclusive, write_atomic
from eqlwatch.errors import DataError, Location
from eqlwatch.suppression import GroupState

log = structlog.get_logger(__name__)
STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class Process:
    """The process that takes leases: what another process needs to tell it is gone."""

    host: str
    pid: int
    start: int | None  # kernel start time of the pid (guards against pid reuse)

    @staticmethod
    def current() -> Process:
        pid = os.getpid()
        return Process(socket.gethostname(), pid, process_start(pid))


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) from /proc; None where there is no /proc."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    # "pid (comm) state ppid ..."; comm may hold spaces and parentheses.
    fields = raw[raw.rindex(b")") + 2 :].split()
    try:
        return fields[0].decode(), int(fields[19])
    except (IndexError, ValueError):
        return None


def process_start(pid: int) -> int | None:
    stat = _proc_stat(pid)
    return None if stat is None else stat[1]


def process_alive(pid: int, start: int | None) -> bool:
    """True unless the pid is certainly not the process that took the lease."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    stat = _proc_stat(pid)
    if stat is None:
        return True  # no /proc: the pid exists, trust it
    state, started = stat
    if state in ("Z", "X"):  # a zombie has exited, it only waits to be reaped
        return False
    return start is None or started == start


def describe(held: dict[str, Any]) -> str:
    """A lease for a person: who holds it, where, since and until when."""
    return (
        f"{held.get('owner')} (host {held.get('host', '?')}, pid {held.get('pid', '?')}, "
        f"since {held.get('started', '?')}, until {held.get('expires')})"
    )


class LocalStateStore:
    def __init__(self, path: Path, *, process: Process | None = None) -> None:
        self.path = path
        self.backup_path = path.with_name(f"{path.stem}.bak{path.suffix}")
        self.process = process if process is not None else Process.current()

    def outbox(self, job_id: str) -> LocalOutbox:
        """The job's notification outbox: a file beside the state file."""
        return LocalOutbox(self.path.with_name(f"outbox-{job_id}.json"))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        """Read-modify-write under an exclusive lock; the yielded dict is saved on exit."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with exclusive(self.path):
            state, recovered = self._read()
            before = orjson.dumps(state, option=orjson.OPT_SORT_KEYS)
            checkpoints = dict(state["checkpoints"])
            yield state
            if recovered or orjson.dumps(state, option=orjson.OPT_SORT_KEYS) != before:
                self._write(state, backup=recovered or state["checkpoints"] != checkpoints)

    def _read(self) -> tuple[dict[str, Any], bool]:
        """The state, and whether it came from the backup (then it must be written back)."""
        exists = self.path.exists()
        if exists:
            try:
                return _parse(self.path.read_bytes(), self.path), False
            except DataError as damage:
                problem: DataError | None = damage
        else:
            problem = None
        if not self.backup_path.exists():
            if problem is not None:
                raise DataError(
                    f"{problem.message}; no backup at {self.backup_path}; fix or remove it",
                    location=problem.location,
                )
            return {"version": STATE_VERSION, "checkpoints": {}, "leases": {}}, False
        try:
            state = _parse(self.backup_path.read_bytes(), self.backup_path)
        except DataError as backup_damage:
            first = f"{problem}; " if problem is not None else f"{self.path} is missing; "
            raise DataError(
                f"{first}backup damaged too ({backup_damage.message}); fix or remove both",
                location=Location(file=str(self.backup_path)),
            ) from backup_damage
        # The backup's leases may be older than the damaged file's (lease-only changes skip
        # the backup) and could name a live process that has since released them: drop
        # them. A holder still running renews its lease or, if another took it meanwhile,
        # stops at its next renewal with its checkpoint kept.
        state["leases"] = {}
        if exists:
            aside = self.path.with_name(self.path.name + ".damaged")
            os.replace(self.path, aside)
            log.warning(
                "state file damaged; recovered from its backup",
                path=str(self.path),
                problem=str(problem),
                backup=str(self.backup_path),
                damaged_copy=str(aside),
            )
        else:
            log.warning(
                "state file missing but its backup exists; recovered from the backup "
                "(remove both to start over)",
                path=str(self.path),
                backup=str(self.backup_path),
            )
        return state, True

    def _write(self, state: dict[str, Any], *, backup: bool) -> None:
        """Replace the state file; mirror it to the backup when checkpoints changed.

        Lease-only changes skip the backup (two fsyncs fewer per run): a lease restored
        from an older backup is one of a finished or dead process, which is taken over.
        """
        data = orjson.dumps(state, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
        write_atomic(self.path, data)
        if backup:
            write_atomic(self.backup_path, data)  # second: never ahead of the state file

    def get_checkpoint(self, key: str) -> datetime | None:
        with self._locked() as state:
            value = state["checkpoints"].get(key)
        if value is None:
            return None
        try:
            checkpoint = datetime.fromisoformat(value)
        except (TypeError, ValueError) as exc:
            raise DataError(
                f"checkpoint {key!r} is not an ISO 8601 time: {value!r}",
                location=Location(file=str(self.path), field=f"checkpoints.{key}"),
            ) from exc
        if checkpoint.tzinfo is None:
            raise DataError(
                f"checkpoint {key!r} has no time zone: {value!r}",
                location=Location(file=str(self.path), field=f"checkpoints.{key}"),
            )
        return checkpoint

    def set_checkpoint(self, key: str, value: datetime) -> None:
        if value.tzinfo is None:
            raise ValueError("checkpoints must be timezone-aware")
        with self._locked() as state:
            state["checkpoints"][key] = value.isoformat()

    def get_suppression(self, key: str) -> dict[str, GroupState]:
        """The rule's open suppression buckets (`eqlwatch.suppression`), by group key."""
        with self._locked() as state:
            groups = state.get("suppression", {}).get(key, {})
        out: dict[str, GroupState] = {}
        for group, record in groups.items() if isinstance(groups, dict) else ():
            try:
                out[group] = GroupState.from_json(record)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise DataError(
                    f"suppression state of {key!r} is malformed ({exc!r}); fix or remove it",
                    location=Location(file=str(self.path), field=f"suppression.{key}.{group}"),
                ) from exc
        return out

    def set_suppression(self, key: str, groups: Mapping[str, GroupState]) -> None:
        with self._locked() as state:
            records = {group: g.to_json() for group, g in sorted(groups.items())}
            if records:
                state.setdefault("suppression", {})[key] = records
            elif key in state.get("suppression", {}):
                del state["suppression"][key]

    def acquire_lease(self, key: str, owner: str, now: datetime, ttl_s: float) -> Lease | None:
        me = self.process
        with self._locked() as state:
            held = state["leases"].get(key)
            if held is not None and not _well_formed(held):
                log.warning("malformed lease record replaced", key=key, record=repr(held)[:200])
                held = None
            if held is not None and held["owner"] != owner:
                if datetime.fromisoformat(held["expires"]) > now:
                    if not self._owner_gone(held):
                        log.info("lease held by another process", key=key, held_by=describe(held))
                        return None
                    log.warning(
                        "lease of a process that is gone taken over", key=key, was=describe(held)
                    )
                held = None
            lease = Lease(key=key, owner=owner, expires=now + timedelta(seconds=ttl_s))
            _HELD[(os.getpid(), self.path, key)] = lease  # before the write: exit releases too
            started = held.get("started") if held is not None else None
            state["leases"][key] = {
                "owner": owner,
                "host": me.host,
                "pid": me.pid,
                "pid_start": me.start,
                "started": started if isinstance(started, str) else now.isoformat(),
                "expires": lease.expires.isoformat(),
            }
            return lease

    def holder(self, key: str) -> str | None:
        """Who holds the lease on `key`, for a person (None when nobody does)."""
        with self._locked() as state:
            held = state["leases"].get(key)
        return describe(held) if isinstance(held, dict) else None

    def _owner_gone(self, held: dict[str, Any]) -> bool:
        pid = held.get("pid")
        if held.get("host") != self.process.host or not isinstance(pid, int):
            return False  # another host's process: only the expiry can free it
        start = held.get("pid_start")
        return not process_alive(pid, start if isinstance(start, int) else None)

    def release_lease(self, lease: Lease) -> None:
        _HELD.pop((os.getpid(), self.path, lease.key), None)
        with self._locked() as state:
            held = state["leases"].get(lease.key)
            if isinstance(held, dict) and held.get("owner") == lease.owner:
                del state["leases"][lease.key]


# Leases this process holds, released by `release_held_leases` at interpreter exit: an
# exit that unwinds past the runner's `finally` (SIGTERM raising SystemExit between taking
# a lease and entering the `try`) still frees them. SIGKILL cannot; the pid check can.
_HELD: dict[tuple[int, Path, str], Lease] = {}


@atexit.register
def release_held_leases() -> None:
    """Release what this process still holds (a forked child skips its parent's)."""
    for (pid, path, _key), lease in list(_HELD.items()):
        if pid == os.getpid():
            with contextlib.suppress(Exception):  # exiting: a state problem must not mask it
                LocalStateStore(path).release_lease(lease)


def _parse(raw: bytes, path: Path) -> dict[str, Any]:
    where = Location(file=str(path))
    try:
        state = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise DataError(f"state file is not valid JSON ({exc})", location=where) from exc
    if not isinstance(state, dict) or not isinstance(state.get("checkpoints"), dict):
        raise DataError("state file has no 'checkpoints' object", location=where)
    leases = state.setdefault("leases", {})
    if not isinstance(leases, dict):
        raise DataError("state file's 'leases' is not an object", location=where)
    if not isinstance(state.get("suppression", {}), dict):
        raise DataError("state file's 'suppression' is not an object", location=where)
    return state


def _well_formed(held: object) -> bool:
    """A lease record this code can read: an owner and an aware expiry time."""
    if not isinstance(held, dict) or not isinstance(held.get("owner"), str):
        return False
    try:
        expires = datetime.fromisoformat(held["expires"])
    except (KeyError, TypeError, ValueError):
        return False
    return expires.tzinfo is not None
