"""One pass over an NDJSON file that parses only the lines some rule may match.

`linematch` says, per line, which rules' needles (`needles.py`) it holds. A line with none
of them is not parsed into objects: it is only validated (msgspec skips over it without
building anything), so malformed lines are still reported with file:line and counted
exactly as the engine's reader reports them. Lines only keyed sequences want for their
later stages are validated and held back (`hunt_defer`). The one known difference: a
number too large for a double (`1e999`) in a line no rule needs is accepted, not reported.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import groupby, islice
from operator import attrgetter
from pathlib import Path
from typing import IO, TYPE_CHECKING

import msgspec
import orjson

from eqlwatch.engine import SourceEvent
from eqlwatch.engine.identity import LATER, record_id
from eqlwatch.engine.needles import Sample, Screens
from eqlwatch.engine.reader import open_bytes, source_event
from eqlwatch.errors import DataError, EqlwatchError, Location
from eqlwatch.pipeline.hunt_defer import Candidates, Held
from eqlwatch.pipeline.hunt_index import CategoryIndex, RuleIndex, rule_index
from eqlwatch.pipeline.linematch import Match
from eqlwatch.sysmon import detect_format

if TYPE_CHECKING:
    from eqlwatch.pipeline.query_docs import PartialDecode
    from eqlwatch.pipeline.query_lines import KeptLines

ErrorHandler = Callable[[DataError], None]
ProgressHandler = Callable[[int], None]
PROGRESS_EVERY = 65_536
SAMPLE_LINES = 2_000  # lines of the first NDJSON file used to pick selective needles


class _AnyObject(msgspec.Struct):
    """Decoding target that checks a line is one JSON object and keeps nothing of it."""


_DECODE_OBJECT = msgspec.json.Decoder(_AnyObject).decode
_DECODE_OBJECTS = msgspec.json.Decoder(_AnyObject).decode_lines


def _validate(line: bytes) -> None:
    """Raises when `line` is not one JSON object. msgspec skips the strings it need not
    keep without reading them, so bytes that are not UTF-8 pass it: those are decoded too
    (all-ASCII lines, nearly all, need not be)."""
    _DECODE_OBJECT(line)
    if not line.isascii():
        line.decode()


def _validate_lines(block: bytes) -> list[_AnyObject]:
    """`_validate` for every line of `block` at once."""
    objects = _DECODE_OBJECTS(block)
    if not block.isascii():
        block.decode()
    return objects


BLOCK_BYTES = 1 << 22  # lines validated and screened together by `stream_blocks`
# `_spanned`'s blocks: its three passes over a block (validate, screen, read the kept
# lines) find it in the CPU's cache (96 MB of ECS lines: 0.57-0.62 s read in 4 MiB
# blocks, 0.51-0.52 s in 256 KiB ones)
SPANNED_BYTES = 1 << 18
LAZY_SHARE = 8  # a block where 1 line in this many is kept: the next is read in part
SWITCH_MIN_LINES = 256  # a block this long where over 1 line in 4 hits: read line by line


@dataclass
class ScanCounts:
    """What one hunt read: events, bad records or files, lines parsed into objects, raw
    Windows records normalised to ECS (all of them when no screen applies)."""

    events: int = 0
    malformed: int = 0
    parsed: int = 0
    normalized: int = 0


@dataclass
class Screen:
    """The rule pack's screens per rule (`hunt_index`); `match` is None when no rule has
    one (every line goes to every rule). `categories`, per rule, the event categories it
    takes (None: any), narrows each parsed event's rules; `required`, per rule, the
    filters every match needs a line for (see `RuleIndex.unmet`)."""

    per_rule: Sequence[Screens | None]
    fast: bool = True
    categories: Sequence[frozenset[str] | None] | None = None
    required: Sequence[frozenset[int]] | None = None
    match: Match | None = field(init=False)
    rules: RuleIndex | None = field(init=False)
    index: CategoryIndex = field(init=False)

    def __post_init__(self) -> None:
        self.rules = rule_index(self.per_rule, self.required, fast=self.fast)
        self.match = self.rules.match if self.rules is not None else None
        self.index = CategoryIndex(self.categories or [None] * len(self.per_rule))


open_lines = open_bytes  # gunzipped, after a UTF-8 byte-order mark (engine.reader)


@dataclass
class NdjsonScan:
    """Scans NDJSON files into per-rule candidates (some lines held back, see hunt_defer)."""

    screen: Screen
    candidates: Candidates
    counts: ScanCounts
    on_error: ErrorHandler | None = None
    on_progress: ProgressHandler | None = None
    screened: int = 0  # events `scan` read through the line screen
    ids: bool = True  # False: events get `identity.LATER` ids, named later (`query`)
    _block_hits: tuple[int, int] = (0, 0)  # the last block's (lines looked at, valid lines)
    # one query's kept lines per block (`query_lines`): no line-by-line screen at all
    spans: KeptLines | None = None
    # with `spans`: the fields of a kept line the query reads (`query_docs`); the event's
    # id is then its line, until `identity.named` reads it whole
    partial: PartialDecode | None = None

    def scan(self, reader: Iterable[bytes], path: Path, index: str) -> None:
        match, store, counts = self.screen.match, self.candidates, self.counts
        everyone = list(range(len(store.first)))
        validate, held, holding = _validate, store.held, store.holding
        rules = self.screen.rules
        may_hold = (rules.first_stage_test(store.first) if rules is not None else None) or (
            store.may_hold
        )
        # With a line screen, each line's category is read before it is parsed.
        useful = self.screen.index.useful
        keep_line = self.screen.index.keep_line if useful and match is not None else None
        keep = self.screen.index.keep if useful and keep_line is None else None
        events = counts.events  # a local in the hot loop, written back below
        end = 0  # where the current line ends in the (decompressed) file
        try:
            for number, line in enumerate(reader, 1):
                end += len(line)
                if number % PROGRESS_EVERY == 0 and self.on_progress is not None:
                    self.on_progress(events)
                targets = everyone if match is None else match(line)
                if targets and keep_line is not None:
                    try:
                        targets = keep_line(line, targets)
                    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
                        # parsed as the engine's reader does: reported, or (should orjson
                        # take what msgspec does not) given to every rule it was kept for
                        event = self.decode(line, number, path, index)
                        if event is not None:
                            store.add(events, event, targets)
                            events += 1
                        continue
                    if not targets:
                        events += 1
                        continue
                if targets is None or (holding and may_hold(line, targets)):
                    try:
                        validate(line)
                    except (msgspec.DecodeError, UnicodeDecodeError):
                        targets = []  # reported (or counted) exactly as the parser does
                    except RecursionError:  # too deep for msgspec, maybe not for orjson:
                        targets = targets or []  # parsed now, for the rules it was kept for
                    else:
                        if targets:
                            size = len(line)
                            held.append(
                                Held(events, end - size, size, number, path, index, targets)
                            )
                        events += 1
                        continue
                event = self.decode(line, number, path, index)
                if event is not None:
                    store.add(events, event, targets if keep is None else keep(event[2], targets))
                    events += 1
        finally:
            if match is not None:
                self.screened += events - counts.events
            counts.events = events

    def stream(
        self, reader: Iterable[bytes], path: Path, index: str, first: int = 1
    ) -> Iterator[SourceEvent]:
        """The lines the screen passes, parsed, in file order; the others only validated
        (and counted): one query's streaming read, nothing held back."""
        match, validate, counts = self.screen.match, _validate, self.counts
        for number, line in enumerate(reader, first):
            if match is not None and match(line) is None:
                try:
                    validate(line)
                except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
                    pass  # reported (or counted) exactly as the parser does, below
                else:
                    counts.events += 1
                    continue
            event = self.decode(line, number, path, index)
            if event is not None:
                counts.events += 1
                yield event

    def stream_blocks(
        self, file: IO[bytes] | io.BufferedReader | gzip.GzipFile, path: Path, index: str
    ) -> Iterator[SourceEvent]:
        """What `stream` yields, counts and reports, read in blocks: msgspec validates a
        whole block of lines at once and one Hyperscan call skips every line no needle is
        in, so only the lines `match` may keep are looked at one by one. A block with a
        malformed line is read line by line, for `stream`'s own errors."""
        if self.spans is not None:
            yield from self._spanned(file, path, index, self.spans)
            return
        rules = self.screen.rules
        find = rules.block_finder() if rules is not None else None
        if find is None:
            yield from self.stream(file, path, index)
            return
        done = 0  # lines before the current block
        blocks = LineBlocks(file)
        for block in blocks:
            yield from self._block(block, done, path, index, find)
            done += block.count(b"\n") + (not block.endswith(b"\n"))
            decoded, valid = self._block_hits
            if valid >= SWITCH_MIN_LINES and decoded * 4 > valid:
                # most lines need a look anyway: scanning each twice would cost more
                yield from self.stream(blocks.rest(), path, index, first=done + 1)
                return

    def _spanned(
        self,
        file: IO[bytes] | io.BufferedReader | gzip.GzipFile,
        path: Path,
        index: str,
        spans: KeptLines,
    ) -> Iterator[SourceEvent]:
        """`stream_blocks` when `spans` names a block's kept lines at once: every block is
        read whole however many of its lines are kept (a damaged one line by line)."""
        done = 0  # lines before the current block
        counts, decode, ids, partial = self.counts, self.decode, self.ids, self.partial
        loads, bad, new, name = orjson.loads, orjson.JSONDecodeError, tuple.__new__, record_id
        refused = (msgspec.DecodeError, RecursionError, UnicodeDecodeError)
        lazy = partial is not None  # then as the block before tells
        for block in LineBlocks(file, SPANNED_BYTES):
            try:
                valid = len(_validate_lines(block))
            except refused:
                yield from self.stream(io.BytesIO(block), path, index, first=done + 1)
            else:
                view = memoryview(block)  # orjson reads a line in place: no copy of it
                parsed = failed = 0
                kept = spans(block, guard=lazy)
                # the fields the query reads, where msgspec reads them as orjson does
                lazy = lazy and not spans.guarded
                ascii = block.isascii()
                for start, end in kept:  # a kept line holds a needle: never blank
                    parsed += 1
                    if lazy:
                        line = block[start:end]
                        if ascii or line.isascii():
                            try:
                                doc = partial(line)  # type: ignore[misc]  # `lazy`: not None
                            except (*refused, UnicodeDecodeError):
                                pass  # orjson's to read, below
                            else:
                                if not ("_source" in doc or "_id" in doc or "id" in doc):
                                    yield new(SourceEvent, (index, line, doc))  # id: the line
                                    continue
                    # `decode`'s usual case inline (it runs per kept line)
                    try:
                        doc = loads(view[start:end])
                    except bad:
                        doc = None
                    if type(doc) is dict and not ("_source" in doc or "_id" in doc or
                                                  "id" in doc):  # fmt: skip
                        yield new(SourceEvent, (index, name(doc) if ids else LATER, doc))
                        continue
                    parsed -= 1  # `decode` counts it: it parses the line again and reports
                    number = _LineNumber(block, start, done)
                    event = decode(block[start:end], number, path, index)
                    if event is None:
                        failed += 1  # not an event: out of the block's count
                    else:
                        yield event
                counts.parsed += parsed
                counts.events += valid - failed
                # reading in part pays for its guard where many lines are kept
                lazy = partial is not None and len(kept) * LAZY_SHARE >= valid
            done += block.count(b"\n") + (not block.endswith(b"\n"))

    def _block(
        self, block: bytes, done: int, path: Path, index: str, find: Callable[[bytes, int], int]
    ) -> Iterator[SourceEvent]:
        self._block_hits = 0, 0
        try:
            valid = len(_validate_lines(block))
        except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):  # line by line
            yield from self.stream(io.BytesIO(block), path, index, first=done + 1)
            return
        match, counts = self.screen.match, self.counts
        assert match is not None  # a finder exists only beside a line matcher
        decoded = 0
        position = 0
        while (end := find(block, position)) >= 0:
            start = block.rfind(b"\n", 0, end) + 1
            stop = block.find(b"\n", end)
            position = len(block) if stop < 0 else stop + 1
            line = block[start:position]
            if not line.strip() or match(line) is None:
                continue  # counted with the block's valid lines (blank: never counted)
            decoded += 1
            # the line's number is counted only if it is reported (a pass over the block
            # per block read, not per line parsed: ~5 % of a filter query's time)
            event = self.decode(line, _LineNumber(block, start, done), path, index)
            if event is not None:
                counts.events += 1
                yield event
        counts.events += valid - decoded
        self._block_hits = decoded, valid

    def decode(
        self, line: bytes, number: int | _LineNumber, path: Path, index: str
    ) -> SourceEvent | None:
        """Parse one line as the engine's reader does (None: reported as malformed)."""
        self.counts.parsed += 1
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            if line.strip():
                where = Location(file=str(path), line=int(number))
                self._error(DataError(f"malformed JSON: {exc}", location=where))
            return None
        if type(doc) is dict and "_source" not in doc and "_id" not in doc and "id" not in doc:
            return SourceEvent(index, record_id(doc) if self.ids else LATER, doc)
        if isinstance(doc, dict):  # a hit or a source with its id: never an error
            return source_event(index, doc, Location(file=str(path)))
        try:
            return source_event(index, doc, Location(file=str(path), line=int(number)))
        except DataError as exc:
            self._error(exc)
            return None

    def decode_held(self, held: Held, line: bytes) -> SourceEvent | None:
        return self.decode(line, held.number, held.path, held.index)

    def reread(self, held: Sequence[Held]) -> Iterator[tuple[Held, bytes]]:
        """The held lines, read again file by file in blocks; where one is no longer whole
        at its place (a new line does not start there, or the file is shorter) the file
        changed after it was read: that is reported and the rest of the file left out."""
        for path, group in groupby(held, key=attrgetter("path")):
            yield from self._reread(path, group)

    def _reread(self, path: Path, group: Iterable[Held]) -> Iterator[tuple[Held, bytes]]:
        try:
            stream = open_lines(path)
        except OSError as exc:
            where = Location(file=str(path))
            self._error(DataError(f"cannot open again: {exc.strerror}", location=where))
            return
        with stream:
            buffer, start = b"", 0  # bytes of the file from `start` on
            for held in group:
                begin = held.offset - 1 if held.offset else 0  # the newline before it too
                stop = held.offset + held.size
                if begin < start or stop > start + len(buffer):
                    stream.seek(begin)
                    buffer, start = stream.read(max(BLOCK_BYTES, stop - begin)), begin
                at = held.offset - start
                line = buffer[at : at + held.size]
                if len(line) != held.size or (held.offset and buffer[at - 1] != 0x0A):
                    where = Location(file=str(path), line=held.number)
                    self._error(DataError("file changed while it was read", location=where))
                    return
                yield held, line

    def _error(self, error: DataError) -> None:
        if self.on_error is None:
            raise error
        self.on_error(error)


class LineBlocks:
    """A file's bytes in blocks of whole lines, about `BLOCK_BYTES` each (the last may
    lack its newline; a line longer than a block is one block). A block is what one read
    gave and the rest of its last line: one copy of the bytes read, where cutting a read
    at its last newline and carrying the cut part made two more, each in fresh memory
    (~0.07 of 0.09 s over 96 MB, mostly page faults)."""

    def __init__(
        self, file: IO[bytes] | io.BufferedReader | gzip.GzipFile, size: int | None = None
    ) -> None:
        self.file, self.size = file, size

    def __iter__(self) -> Iterator[bytes]:
        read, readline = self.file.read, self.file.readline
        size = BLOCK_BYTES if self.size is None else min(self.size, BLOCK_BYTES)
        while True:
            block = read(size)
            if not block:
                return
            if not block.endswith(b"\n"):
                block += readline()  # the rest of its last line
            yield block

    def rest(self) -> Iterable[bytes]:
        """The lines after the last block given, to read on line by line."""
        return self.file


class _LineNumber:
    """The number of the line at `start` in `block`, counted when it is asked for."""

    __slots__ = ("block", "done", "start")

    def __init__(self, block: bytes, start: int, done: int) -> None:
        self.block, self.start, self.done = block, start, done

    def __int__(self) -> int:
        return self.done + 1 + self.block.count(b"\n", 0, self.start)


def input_sample(files: Sequence[Path], input_format: str) -> Sample | None:
    """Lower-cased first lines of the first readable NDJSON file, to rank needle groups."""
    for path in files:
        try:
            if (
                not path.is_file()
                or (detect_format(path) if input_format == "auto" else input_format) != "ecs"
            ):
                continue
            with open_lines(path) as stream:
                lines = [line.lower() for line in islice(stream, SAMPLE_LINES)]
        except (OSError, EqlwatchError):
            continue
        if lines and not lines[0].lstrip().startswith(b"["):
            return Sample(lines)
    return None
