"""Before the scan: sequences a stage of which no line can match are dropped up front.

A sequence needs an event for each of its positive stages. Most of Elastic's Windows
sequences wait for a rare stage (a Veeam DLL, `schtasks.exe /create`) and pair it with a
common one (any process start): without this, every line the common stage's needles are
in is parsed for them, only for the rule to be skipped at the end (`RuleIndex.unmet`).

One Hyperscan pass over the raw bytes of every file (4 MiB blocks cut at line ends, read
into one buffer; no per-line work, and no memory map: see `_scan_read`) finds which
needles of the required stages' groups occur anywhere. A rule one of whose required
filters has a group no needle of which occurs cannot have a hit:
its screen is emptied, so no line is parsed for it. Sound only where every event goes
through the line screen: every file must be ECS NDJSON (not a JSON array, not a raw
Windows format), and a line with a real `\\u` escape or a character `str.lower` maps to
ASCII anywhere turns the pass off (such a line goes to every rule). The files are
stat-ed before the pass; `changed` names those that differ after the scan, which `hunt`
reports (their later lines were not seen by the pass).
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eqlwatch.engine.hsdb_cache import compiled
from eqlwatch.engine.needles import Sample, Screens
from eqlwatch.errors import EqlwatchError
from eqlwatch.pipeline.hunt_index import ESCAPE_OR_LOWERS, literal
from eqlwatch.pipeline.hunt_scan import BLOCK_BYTES, open_lines
from eqlwatch.sysmon import detect_format

Stamp = tuple[int, int]  # size, mtime in ns
GROUPS_PER_RULE = 2  # groups searched for per rule (see `prepass`)


def _stamp(path: Path) -> Stamp:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


@dataclass
class Prepass:
    """Rules proven to have no hit in `files`, and the files' stamps when they were read."""

    unreachable: frozenset[int] = frozenset()
    stamps: dict[Path, Stamp] = field(default_factory=dict)

    def changed(self) -> list[Path]:
        """Files that are not as the pass read them (grown, rewritten, removed)."""
        out = []
        for path, stamp in self.stamps.items():
            try:
                now = _stamp(path)
            except OSError:
                now = (-1, -1)
            if now != stamp:
                out.append(path)
        return out


def prepass(
    per_rule: Sequence[Screens | None],
    required: Sequence[frozenset[int]],
    files: Sequence[Path],
    input_format: str,
    sample: Sample | None = None,
) -> Prepass:
    """Sequences (`required` filters) one of whose required filters no line can pass.

    Only groups that can prove something are searched for: a group some needle of which
    the sample (the first lines of the first file) holds occurs, and of the others, a
    rule's `GROUPS_PER_RULE` with the fewest needles (one absent group is proof enough).
    Leaving a group out is always sound: it is then taken to occur."""
    groups: dict[int, list[frozenset[bytes]]] = {}
    for r, (screens, need) in enumerate(zip(per_rule, required, strict=True)):
        if screens is not None and need:
            searched = [g for i in need if i < len(screens) for g in screens[i]]
            if sample is not None:
                searched = [g for g in searched if not any(sample.holding(n) for n in g)]
            searched.sort(key=lambda g: (len(g), sorted(g)))
            if searched:
                groups[r] = searched[:GROUPS_PER_RULE]
    if not groups or not files:
        return Prepass()
    try:
        import hyperscan
    except ImportError:
        return Prepass()
    stamps: dict[Path, Stamp] = {}
    for path in files:
        try:
            fmt = detect_format(path) if input_format == "auto" else input_format
            if fmt != "ecs":
                return Prepass()
            stamps[path] = _stamp(path)
            with open_lines(path) as stream:
                if stream.peek(64).lstrip().startswith(b"["):
                    return Prepass()
        except (OSError, EqlwatchError):
            return Prepass()  # the scan reports it; nothing is proven here
    needles = sorted({n for gs in groups.values() for g in gs for n in g})
    escape = len(needles)
    single = hyperscan.HS_FLAG_SINGLEMATCH

    def database(ids: list[int]) -> tuple[Any, Any]:
        expressions = [literal(needles[i]) for i in ids] + [ESCAPE_OR_LOWERS]
        flags = [hyperscan.HS_FLAG_CASELESS | single] * len(ids) + [single]
        db = compiled(expressions, [*ids, escape], flags, hyperscan.HS_MODE_BLOCK)
        return db, hyperscan.Scratch(db)

    # Needles of a byte outside printable ASCII (single non-ASCII bytes, see needles.py)
    # slow the whole scan down (all 612 needles of detection-rules' Windows sequences over
    # 200,000 endpoint lines: 0.30 -> 0.24 s without them); a block without such a byte
    # cannot hold them, so it is scanned without them.
    full = database(list(range(len(needles))))
    plain = [i for i, n in enumerate(needles) if n.isascii() and b"\x7f" not in n]
    narrow = full if len(plain) == len(needles) else database(plain)
    found: set[int] = set()

    def on_match(ident: int, start: int, end: int, flags: int, context: object) -> None:
        found.add(ident)

    def scan(block: memoryview, buffer: bytearray) -> None:
        # the whole buffer is checked (a block is a view of its start): sound, if coarse;
        # not at all when every needle is printable ASCII (0.02 s per 242 MB spared)
        wide = narrow is not full and not (buffer.isascii() and buffer.find(b"\x7f") < 0)
        db, scratch = full if wide else narrow
        db.scan(block, match_event_handler=on_match, scratch=scratch)

    for path in files:
        try:
            with open_lines(path) as stream:
                _scan_read(stream, scan)
        except (OSError, EOFError, ValueError, zlib.error):
            return Prepass()  # unreadable (or a damaged gzip stream): the scan reports it
        if escape in found:
            return Prepass()
    ids = {n: i for i, n in enumerate(needles)}
    unreachable = frozenset(
        r for r, gs in groups.items() if any(all(ids[n] not in found for n in g) for g in gs)
    )
    return Prepass(unreachable, stamps)


def _scan_read(
    stream: io.BufferedReader | gzip.GzipFile, scan: Callable[[memoryview, bytearray], None]
) -> None:
    """`scan` each block of whole lines read from `stream` (a needle never spans lines).

    Read into one reused buffer: no allocation per block. Not a memory map: a file that
    is truncated while mapped (a log rotated by copy-and-truncate) kills the process with
    SIGBUS on the next page read; a read just ends early (`changed` reports the file).
    """
    buffer = bytearray(BLOCK_BYTES)
    kept = 0  # bytes of an unfinished line at the start of `buffer`
    while True:
        if kept == len(buffer):  # one line longer than the buffer: make room
            buffer.extend(bytes(len(buffer)))
        with memoryview(buffer) as view:
            read = stream.readinto(view[kept:])
            if not read:
                if kept:
                    scan(view[:kept], buffer)
                return
            end = kept + read
            cut = buffer.rfind(b"\n", 0, end) + 1
            if cut:
                scan(view[:cut], buffer)
        if cut:
            buffer[: end - cut] = buffer[cut:end]
            kept = end - cut
        else:
            kept = end
