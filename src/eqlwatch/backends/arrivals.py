"""The local source's arrival clock: when each part of each file was first seen.

Files carry no `event.ingested`, so the local source keeps a *ledger* (a JSON file beside the
state file, replaced atomically): per file identity, the segments of the file seen so far
and the observation interval in which each first appeared, `(end, prev_observation,
observation)`, plus the source's last observation. A record's arrival time is
`clamp(event_time, prev_observation, observation)` of its segment: lines appended to a live
file arrive on time (their own event time), a late line or a file dropped in late arrives
at the previous observation, inside the window of the first run that sees it; history
present at the very first observation (prev = -inf) keeps its event time.

A file's identity is a hash of its first bytes (up to 4 KiB) with its length so far: a
renamed or rotated file is recognised by content, a file replaced or truncated is new.
Positions are byte offsets for NDJSON read in place, record ordinals for everything else.
The ledger is deterministic across retries: a run that fails after observing re-reads the
same arrivals, and an observation never moves back (a clock step back observes nothing new).
"""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import orjson

from eqlwatch.backends.filelock import exclusive, write_atomic
from eqlwatch.errors import BackendError

HEAD = 4096
Unit = Literal["bytes", "records"]
_VERSION = 1
_FORGET = timedelta(days=30)  # entries of files unseen this long are dropped
_SETTLED = timedelta(days=7)  # segments older than this are merged


def _settle(segments: list[Segment], before: datetime) -> list[Segment]:
    """Segments observed before `before` merged into one, so a live file appended every run
    keeps a bounded ledger. Their records' arrivals stay inside the merged interval, long
    past every checkpoint of a running job; a job stopped longer than `_SETTLED` may see some
    again, and deterministic alert ids absorb those repeats."""
    old = [seg for seg in segments if seg.obs < before]
    if len(old) < 2:
        return segments
    merged = Segment(old[-1].end, old[0].prev, old[-1].obs)
    return [merged, *segments[len(old) :]]


def head_hash(head: bytes) -> str:
    return hashlib.blake2b(head, digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class Segment:
    """Positions [previous end, end) first seen in the observation interval (prev, obs]."""

    end: int
    prev: datetime | None  # None: the very first observation (everything before is on time)
    obs: datetime


@dataclass
class FileEntry:
    head: str
    head_len: int
    unit: Unit
    path: str
    last_seen: datetime
    segments: list[Segment] = field(default_factory=list)

    @property
    def end(self) -> int:
        return self.segments[-1].end if self.segments else 0


@dataclass(frozen=True, slots=True)
class Seen:
    """One file as the source read it now: how far it is complete, and its first bytes."""

    path: str
    head: bytes
    size: int  # complete bytes (whole lines) or records read
    unit: Unit


@dataclass(frozen=True, slots=True)
class Arrivals:
    """One observed file's segments: `arrival(position, event_time)`."""

    segments: tuple[Segment, ...]
    new_from: int  # positions at or past this first appeared in this observation
    ends: tuple[int, ...] = ()

    def arrival(self, position: int, event_time: datetime) -> datetime:
        ends = self.ends or tuple(seg.end for seg in self.segments)
        at = bisect.bisect_right(ends, position)
        if at < len(self.segments):
            seg = self.segments[at]
            low = seg.prev if seg.prev is not None else event_time
            return min(max(event_time, low), seg.obs)
        last = self.segments[-1].obs if self.segments else event_time
        return min(event_time, last)  # past what was observed: not expected; never future

    def latest(self, position: int, event_time: datetime) -> datetime:
        """The latest the record can have arrived: its segment's observation. History seen at
        the very first observation counts as on time (its arrival is its event time)."""
        ends = self.ends or tuple(seg.end for seg in self.segments)
        at = bisect.bisect_right(ends, position)
        if at < len(self.segments) and self.segments[at].prev is not None:
            return self.segments[at].obs
        return self.arrival(position, event_time)


@dataclass
class Ledger:
    """The arrival ledger of one job's local source (see the module docstring)."""

    observation: datetime | None = None
    files: dict[str, FileEntry] = field(default_factory=dict)

    def observe(self, now: datetime, seen: list[Seen]) -> tuple[datetime, list[Arrivals]]:
        """Record what each file holds now; its arrivals, in the order given.

        The observation is `max(now, last observation)`: a clock step backwards never
        moves arrivals before data already observed.
        """
        now = now.astimezone(UTC)
        prev = self.observation
        obs = now if prev is None or now > prev else prev
        used: set[str] = set()
        out: list[Arrivals] = []
        for item in seen:
            key = self._match(item, used)
            if key is None:
                key = self._new_key(item)
                self.files[key] = FileEntry(
                    head=head_hash(item.head[:HEAD]),
                    head_len=len(item.head[:HEAD]),
                    unit=item.unit,
                    path=item.path,
                    last_seen=obs,
                )
            used.add(key)
            entry = self.files[key]
            start = entry.end
            if item.size > start:
                entry.segments.append(Segment(item.size, prev, obs))
            if len(item.head[:HEAD]) > entry.head_len:
                entry.head, entry.head_len = head_hash(item.head[:HEAD]), len(item.head[:HEAD])
            entry.path, entry.last_seen = item.path, obs
            entry.segments = _settle(entry.segments, obs - _SETTLED)
            segments = tuple(entry.segments)
            out.append(Arrivals(segments, start, tuple(seg.end for seg in segments)))
        self.observation = obs
        for key in [k for k, e in self.files.items() if e.last_seen < obs - _FORGET]:
            del self.files[key]
        return obs, out

    def _match(self, item: Seen, used: set[str]) -> str | None:
        """The entry this file continues: same unit, same first bytes, not shorter. The
        longest matching head wins, then the same path. (One hash per distinct head
        length, not per entry: a folder of many files stays linear.)"""
        best: tuple[int, bool, str] | None = None
        hashes: dict[int, str] = {}
        for key, entry in self.files.items():
            if key in used or entry.unit != item.unit or item.size < entry.end:
                continue
            if len(item.head) < entry.head_len:
                continue
            mine = hashes.get(entry.head_len)
            if mine is None:
                mine = hashes[entry.head_len] = head_hash(item.head[: entry.head_len])
            if mine != entry.head:
                continue
            rank = (entry.head_len, entry.path == item.path, key)
            if best is None or rank > best:
                best = rank
        return None if best is None else best[2]

    def _new_key(self, item: Seen) -> str:
        base = f"{head_hash(item.head[:HEAD])}-{item.unit}"
        key, n = base, 1
        while key in self.files:
            n += 1
            key = f"{base}-{n}"
        return key

    # -- persistence -------------------------------------------------------------------

    def to_json(self) -> bytes:
        doc: dict[str, Any] = {
            "version": _VERSION,
            "observation": _iso(self.observation),
            "files": {
                key: {
                    "head": e.head,
                    "head_len": e.head_len,
                    "unit": e.unit,
                    "path": e.path,
                    "last_seen": _iso(e.last_seen),
                    "segments": [[s.end, _iso(s.prev), _iso(s.obs)] for s in e.segments],
                }
                for key, e in self.files.items()
            },
        }
        return orjson.dumps(doc, option=orjson.OPT_INDENT_2)

    @classmethod
    def from_json(cls, data: bytes, where: str) -> Ledger:
        try:
            doc = orjson.loads(data)
            if doc.get("version") != _VERSION:
                raise ValueError(f"unknown version {doc.get('version')!r}")
            files = {}
            for key, e in doc["files"].items():
                unit = e["unit"]
                if unit not in ("bytes", "records"):
                    raise ValueError(f"files.{key}.unit: {unit!r}")
                segments = [
                    Segment(int(end), _time(p), _need(_time(o))) for end, p, o in e["segments"]
                ]
                files[key] = FileEntry(
                    head=str(e["head"]),
                    head_len=int(e["head_len"]),
                    unit=unit,
                    path=str(e["path"]),
                    last_seen=_need(_time(e["last_seen"])),
                    segments=segments,
                )
            return cls(observation=_time(doc["observation"]), files=files)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BackendError(
                f"{where}: arrival ledger unreadable ({exc}); move it aside to start a new "
                "one (files then count as first seen now)"
            ) from None


def load_ledger(path: Path) -> Ledger:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return Ledger()
    except OSError as exc:
        raise BackendError(f"{path}: cannot read the arrival ledger: {exc.strerror}") from None
    return Ledger.from_json(data, str(path))


def save_ledger(path: Path, ledger: Ledger) -> None:
    """Replaced atomically (`write_atomic`): a crash leaves the old ledger or the new."""
    try:
        write_atomic(path, ledger.to_json())
    except OSError as exc:
        raise BackendError(f"{path}: cannot write the arrival ledger: {exc.strerror}") from None


def observe_files(
    path: Path, now: datetime, seen: list[Seen]
) -> tuple[datetime | None, datetime, list[Arrivals]]:
    """Load, observe and save under the ledger's lock (two processes never lose a segment);
    returns the previous observation, this one, and each file's arrivals."""
    try:
        with exclusive(path):
            ledger = load_ledger(path)
            prev = ledger.observation
            obs, arrivals = ledger.observe(now, seen)
            save_ledger(path, ledger)
    except OSError as exc:
        raise BackendError(f"{path}: cannot lock the arrival ledger: {exc.strerror}") from None
    return prev, obs, arrivals


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        raise ValueError(f"naive time {value!r}")
    return parsed.astimezone(UTC)


def _need(value: datetime | None) -> datetime:
    if value is None:
        raise ValueError("a required time is null")
    return value
