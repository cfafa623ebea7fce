"""Raw Windows records screened on their bytes, before they are parsed.

NXLog, Winlogbeat and evtx-rs JSON files (one record a line) and binary EVTX files (evtx-rs
gives each record's JSON text) are screened record by record on the text: one Hyperscan pass
finds the rules' literal needles (`needles.raw_filters`), and msgspec reads only the event
id, the provider, the channel and what names the record (no other value is built), which
gives the event-id tags. A record is parsed and normalised only when some filter of some
rule may match it; the others are only validated, so a bad one is still reported exactly as
the straightforward read reports it: any record the validation is not sure of takes that
read.

A keyed sequence (`needles.raw_hold_key`) needs a record for a later stage only when its join
key is one a first-stage match has: such records are noted (line number, position), and
once every first-stage candidate is known, the file is read again and only the noted lines
holding one of those keys (as text, ASCII case aside) are parsed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import msgspec
import orjson

from eqlwatch.engine import CompiledQuery, SourceEvent
from eqlwatch.engine.needles import Group, event_tags, raw_filters, raw_hold_key
from eqlwatch.errors import DataError, Location
from eqlwatch.pipeline.hunt_fields import field_look, tied_keys
from eqlwatch.pipeline.hunt_raw import RawScreen
from eqlwatch.pipeline.hunt_scan import ErrorHandler, open_lines
from eqlwatch.pipeline.linematch import NeedleScan, any_needle, needle_scan
from eqlwatch.sysmon.reader import (
    NormalizedEvent,
    read_windows_events,
    record_event,
    report_error,
)
from eqlwatch.sysmon.record import SYSMON_CHANNEL, SYSMON_PROVIDER
from eqlwatch.sysmon.sources import evtx_location, evtx_numbered_texts, first_text
from eqlwatch.sysmon.values import EMPTY_VALUES, to_int

LINE_FORMATS = ("nxlog", "evtx-json", "winlogbeat")
_BOM = b"\xef\xbb\xbf"
_DECISIONS_KEPT = 4096


# ---- what the validation reads of a record ----------------------------------------------


# Typed, so msgspec checks the types in C: a record of other types (an event id written as
# text, say) fails the validation and is read the straightforward way.
class _Nxlog(msgspec.Struct):
    EventID: int
    RecordNumber: int
    SourceName: str | None = None
    Channel: str | None = None
    Hostname: str | None = None
    Computer: str | None = None


# Frozen (hashable): the EVTX screen keys its decisions by them (`LineRules.evtx_decision`).
class _Attributes(msgspec.Struct, frozen=True, gc=False):
    Name: str | None = None


class _Provider(msgspec.Struct, frozen=True, gc=False, rename={"attributes": "#attributes"}):
    attributes: _Attributes | None = None


class _EventId(msgspec.Struct, frozen=True, gc=False, rename={"text": "#text"}):
    text: int


class _System(msgspec.Struct, gc=False):
    EventID: int | _EventId
    EventRecordID: int
    Computer: str
    Provider: _Provider | None = None
    Channel: str | None = None


class _Event(msgspec.Struct, gc=False):
    System: _System


class _EvtxJson(msgspec.Struct):
    Event: _Event | msgspec.UnsetType = msgspec.UNSET
    System: _System | msgspec.UnsetType = msgspec.UNSET


class _EvtxRecord(msgspec.Struct, gc=False):
    """A record as the `evtx` parser writes it (always `{"Event": ...}`): no union to try."""

    Event: _Event


class _BeatWinlog(msgspec.Struct):
    event_id: int | str | msgspec.UnsetType | None = msgspec.UNSET
    record_id: int | str | None = None
    computer_name: str | None = None
    provider_name: str | None = None
    channel: str | None = None
    event_data: msgspec.Raw = msgspec.Raw(b"")  # the text only (Raw cannot be optional)


class _BeatEvent(msgspec.Struct):
    code: int | str | None = None
    provider: str | None = None


class _Host(msgspec.Struct):
    name: str | None = None


class _Winlogbeat(msgspec.Struct):
    winlog: _BeatWinlog
    event: _BeatEvent | None = None
    host: _Host | None = None


Head = tuple[int, bool]  # event id, Sysmon or not


def _sysmon(provider: str | None, channel: str | None) -> bool:
    """`WinRecord.is_sysmon` of a record with this provider and channel (as written)."""
    if provider == SYSMON_PROVIDER or channel == SYSMON_CHANNEL:
        return True
    return (provider is None or provider in EMPTY_VALUES) and (
        channel is None or channel in EMPTY_VALUES
    )


def _named(value: str | None) -> bool:
    return value is not None and value not in EMPTY_VALUES


def _nxlog_head(h: _Nxlog) -> Head | None:
    if not (_named(h.Hostname) or _named(h.Computer)):
        return None
    return h.EventID, _sysmon(h.SourceName, h.Channel)


def _evtx_head(h: _EvtxJson) -> Head | None:
    if isinstance(h.Event, _Event):
        system = h.Event.System
    elif isinstance(h.System, _System):
        system = h.System
    else:
        return None
    return _system_head(system)


def _system_head(system: _System) -> Head | None:
    if not _named(system.Computer):
        return None
    eid = system.EventID.text if isinstance(system.EventID, _EventId) else system.EventID
    provider = system.Provider
    name = provider.attributes.Name if provider and provider.attributes else None
    return eid, _sysmon(name, system.Channel)


def _beat_head(h: _Winlogbeat) -> Head | None:
    """As `shapes.from_winlogbeat` reads it; a record without EventData may be read from its
    `event.original` XML instead (`normalize.to_record`): not decided here."""
    w, event, host = h.winlog, h.event or _BeatEvent(), h.host or _Host()
    data = bytes(w.event_data).strip()
    if not data.startswith(b"{") or data[1:].lstrip() == b"}":
        return None
    eid = to_int(event.code if isinstance(w.event_id, msgspec.UnsetType) else w.event_id)
    if eid is None or to_int(w.record_id) is None:
        return None
    if not (_named(w.computer_name) or _named(host.name)):
        return None
    provider = w.provider_name if _named(w.provider_name) else event.provider
    return eid, _sysmon(provider if _named(provider) else None, w.channel)


# RecursionError: a record nested deeper than msgspec goes (~1,000 levels; orjson reads to
# 1,023): the straight read takes it, and maps it or reports it, with its line
INVALID = (msgspec.DecodeError, msgspec.ValidationError, RecursionError)


def head_reader(fmt: str) -> tuple[Callable[[bytes | str], Any], Callable[[Any], Head | None]]:
    """What the screen needs of a record of `fmt`: a decoder (raises one of `INVALID` when
    the text is no JSON object of that shape; values it does not name are skipped, never
    built) and what to take of its result (event id, Sysmon or not); None when the adapter
    could fail on the record or it has no record id and computer (its `_id` then counts
    identical records, so it must be read)."""
    if fmt == "nxlog":
        return msgspec.json.Decoder(_Nxlog).decode, _nxlog_head
    if fmt == "winlogbeat":
        return msgspec.json.Decoder(_Winlogbeat).decode, _beat_head
    return msgspec.json.Decoder(_EvtxJson).decode, _evtx_head


# What the EVTX screen decodes: the parser's text, encoded as Latin-1 when it can be (see
# `LineScan._evtx`). A head value (computer, provider, channel) that is not ASCII may then not
# decode (UnicodeDecodeError) or decode to other non-ASCII text: the answers `_system_head`
# gives are the same for any non-ASCII text (only ASCII constants are compared), and a
# failure is retried on the UTF-8 text.
_EVTX_RECORD = msgspec.json.Decoder(_EvtxRecord).decode
_UNREADABLE = (*INVALID, UnicodeDecodeError)


# ---- which rules a record may concern --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    """Rules to parse a record for now, and keyed sequences to note it for (later stage)."""

    now: bool
    hold: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Noted:
    """A validated record a keyed sequence may need for a later stage: where its line is
    in the (decompressed) file, or for an EVTX record where its JSON text is in the
    file's spill file (`offset`, `size`: read again later, not held in memory)."""

    offset: int
    size: int
    loc: Location
    position: int
    rules: tuple[int, ...]


class LineRules:
    """Per rule and filter, the needle groups as ids; decides per record from the needles
    found in its text and its event-id tags."""

    def __init__(self, queries: Sequence[CompiledQuery], fast: bool = True) -> None:
        self.filters = [[_kept(f) for f in raw_filters(q)] for q in queries]
        self.keys = [raw_hold_key(q) for q in queries]
        literals = sorted(
            {n for f in self.filters for g in _groups(f) for n in g if not n.startswith(b"<")}
        )
        tags = sorted(
            {n for f in self.filters for g in _groups(f) for n in g if n.startswith(b"<")}
        )
        ids = {n: i for i, n in enumerate([*literals, *tags])}
        self.tag_ids = {n: ids[n] for n in tags}
        self.ids = [
            [[frozenset(ids[n] for n in g) for g in f] for f in rule] for rule in self.filters
        ]
        for i, rule in enumerate(self.ids):
            if self.keys[i] is not None and not rule[0]:
                self.keys[i] = None  # every record may be a first-stage one: nothing to hold
        self.fast = fast
        self._tie(ids)
        self.scan: NeedleScan = needle_scan(literals, fast=fast)
        # EVTX texts: numbers written from 64-bit integers and finite doubles only (see
        # `evtx_scans`), and, when every needle allows it, scanned as Latin-1.
        self.codec, self.narrow_scan, self.wide_scan = evtx_scans(literals, fast)
        self.decided: dict[tuple[Head, frozenset[int]], Decision] = {}
        # EVTX: decisions by what the head is made of (event id, provider, channel) and
        # the needles found, so a record's head need not be worked out (`evtx_decision`).
        self.by_system: dict[tuple[Any, Any, Any, frozenset[int]], Decision] = {}
        # EVTX: decisions the head cannot change (`blind_decision`), by the needles found.
        self.blind: dict[frozenset[int], Decision] = {}

    def _tie(self, ids: dict[bytes, int]) -> None:
        """The groups again with each tied needle as a (needle, keys) pair of its own
        (`hunt_fields`): `tied_ids` names pairs from `len(ids)` on; `pair_scan` finds them
        in a record (None: no group is tied, nothing to refine). Pairs are numbered in
        sorted order, the same in every process."""
        found = {(n, keys) for rule in self.filters for groups in rule for g in groups
                 if (keys := tied_keys(g)) is not None for n in g}  # fmt: skip
        ordered = sorted(found, key=lambda pair: (pair[0], sorted(pair[1])))
        pairs = {pair: len(ids) + i for i, pair in enumerate(ordered)}
        self.tied_ids: list[list[list[frozenset[int]]]] = []
        for rule in self.filters:
            tied_rule = []
            for groups in rule:
                tied_groups = []
                for g in groups:
                    keys = tied_keys(g)
                    if keys is None:
                        tied_groups.append(frozenset(ids[n] for n in g))
                    else:
                        tied_groups.append(frozenset(pairs[n, keys] for n in g))
                tied_rule.append(tied_groups)
            self.tied_ids.append(tied_rule)
        self.pair_base = len(ids)
        self.pair_scan = field_look(ordered, ids) if ordered else None
        self.refined: dict[tuple[Head, frozenset[int], frozenset[int]], Decision] = {}

    def refine(self, system: _System, found: frozenset[int], text: bytes | str) -> Decision:
        """`refine_head` for an EVTX record's System block (one the caller decided on)."""
        head = _system_head(system)
        assert head is not None
        return self.refine_head(head, found, text)

    def refine_head(self, head: Head, found: frozenset[int], text: bytes | str) -> Decision:
        """The decision for a record the plain needles let through, with each tied needle
        looked for only in its keys' values (`hunt_fields`); `found` must be the plain
        scan's answer for `text` (not None: the text has no escape to doubt). For EVTX
        texts and NXLog lines, whose EventData values are JSON object keys' values."""
        assert self.pair_scan is not None
        pairs = self.pair_scan(text, found)
        if pairs is None:
            return self.decide(head, found)
        key = (head, found, pairs)
        known = self.refined.get(key)
        if known is None:
            tags = event_tags(head[0], head[1])
            present = set(found)
            present.update(i for n, i in self.tag_ids.items() if n in tags)
            present.update(self.pair_base + p for p in pairs)
            known = self._decide_present(present, self.tied_ids)
            if len(self.refined) < _DECISIONS_KEPT:
                self.refined[key] = known
        return known

    @property
    def holding(self) -> list[int]:
        return [i for i, key in enumerate(self.keys) if key is not None]

    def decide(self, head: Head, found: frozenset[int]) -> Decision:
        key = (head, found)
        known = self.decided.get(key)
        if known is None:
            known = self._decide(head, found)
            if len(self.decided) < _DECISIONS_KEPT:
                self.decided[key] = known
        return known

    def evtx_decision(self, system: _System, found: frozenset[int]) -> Decision | None:
        """`decide` for an EVTX record's System block (None: read it straight, as
        `_system_head` says); the EVTX loop looks `by_system` up itself first."""
        head = _system_head(system)
        if head is None:
            return None
        decision = self.decide(head, found)
        if len(self.by_system) < _DECISIONS_KEPT:
            self.by_system[system.EventID, system.Provider, system.Channel, found] = decision
            if found not in self.blind and self.blind_decision(found) == decision:
                self.blind[found] = decision
        return decision

    def blind_decision(self, found: frozenset[int]) -> Decision | None:
        """The decision for a record holding the needles `found`, whatever its event id,
        provider and channel, when they cannot change it (None when they can).

        Tags only add to what a record holds, and `_decide` is monotone in that: a filter
        satisfied stays satisfied with more present; so a rule triggering `now` with no tag
        triggers it with any, and the held rules with some tags lie between those with none
        and those with all. When the answers with no tag and with every tag are equal, every
        head gets that answer. Most records hold no needle (found empty): when every filter
        of every rule needs a literal, they are dropped without a lookup."""
        none = self._decide_present(set(found))
        every = self._decide_present({*found, *self.tag_ids.values()})
        return none if none == every else None

    def _decide(self, head: Head, found: frozenset[int]) -> Decision:
        tags = event_tags(head[0], head[1])
        present = set(found)
        present.update(i for n, i in self.tag_ids.items() if n in tags)  # `>` ends each tag
        return self._decide_present(present)

    def _decide_present(
        self, present: set[int], ids: list[list[list[frozenset[int]]]] | None = None
    ) -> Decision:
        hold: list[int] = []
        for i, rule in enumerate(self.ids if ids is None else ids):
            sat = [all(g & present for g in groups) for groups in rule]
            if self.keys[i] is None:
                if any(sat):
                    return Decision(True, ())
            elif sat[0]:
                return Decision(True, ())
            elif any(sat[1:]):
                hold.append(i)
        return Decision(False, tuple(hold))


def evtx_scans(literals: Sequence[bytes], fast: bool) -> tuple[str, NeedleScan, NeedleScan]:
    """How to scan the `evtx` parser's JSON texts for needles: the encoding to try first
    (Latin-1 unless some needle forbids it, else UTF-8), the scan of text in it, and the
    scan of UTF-8 text (for texts Latin-1 cannot encode).

    The parser writes numbers from 64-bit integers and finite doubles, which the straight
    read (orjson) always takes, so the scan leaves out the too-big-number test.

    Encoding a text of code points below 256 as Latin-1 copies CPython's own bytes, where
    UTF-8 costs a conversion (1.4-1.9 us for a 1.6 kB record with a `®` in it, on the
    bench's captures). ASCII needles are found in the same places in both encodings (a
    non-ASCII character gives only bytes >= 0x80 in either), and so are the escape and
    `str.lower` tests, which a Latin-1 text can only set off more often (a real İ or K
    cannot be in one). A non-ASCII needle can only be in a non-ASCII text: it is counted
    found in every non-ASCII Latin-1 text, as often as its UTF-8 bytes are or more, never
    less. For a lead byte (`needles.NON_ASCII`: "some non-ASCII character") that is exact;
    a literal's UTF-8 text (`process.name == "café.exe"`) would pass every record with a
    `®` in it, so rules with such a needle scan UTF-8 instead."""
    wide = needle_scan(literals, fast=fast, numbers=False)
    if not all(n.isascii() or len(n) == 1 for n in literals):
        return "utf-8", wide, wide
    lead = frozenset(i for i, n in enumerate(literals) if not n.isascii())
    if not lead:
        return "latin-1", wide, wide

    def narrow(text: bytes) -> frozenset[int] | None:
        found = wide(text)
        return found if found is None or text.isascii() else found | lead

    return "latin-1", narrow, wide


def _kept(groups: list[Group]) -> list[Group]:
    """The groups of one filter worth searching: every event-id tag group (free: the id is
    read anyway) and the one literal group whose shortest needle is longest (short or
    common needles, e.g. a provider name, match most lines and only cost). Dropping a group
    of a conjunction keeps the test sound."""
    tags = [g for g in groups if all(n.startswith(b"<") for n in g)]
    texts = [g for g in groups if not all(n.startswith(b"<") for n in g)]
    if not texts:
        return tags
    best = max(texts, key=lambda g: (min(len(n) for n in g), -len(g)))
    return [*tags, best]


def _groups(filters: list[list[Group]]) -> Iterator[Group]:
    for groups in filters:
        yield from groups


# ---- reading --------------------------------------------------------------------------


@dataclass
class LineScan:
    """Screens raw line formats and EVTX files for `hunt`; `record` routes what is parsed."""

    rules: LineRules
    record: RawScreen
    on_error: ErrorHandler
    noted: dict[Path, list[Noted]] = field(default_factory=dict)
    # EVTX records cannot be read again by offset: the noted ones' text, until `resolve`.
    spills: dict[Path, IO[bytes]] = field(default_factory=dict)
    formats: dict[Path, str] = field(default_factory=dict)

    def applies(self, path: Path, fmt: str) -> bool:
        if fmt == "evtx":
            return True
        return fmt in LINE_FORMATS and not first_text(path).startswith("[")

    def read(self, path: Path, fmt: str) -> Iterator[tuple[NormalizedEvent, list[int]]]:
        """The records of `path` some rule may need, normalised, with their rules; counts
        the others as read (`record.counts.events`), noting those keyed sequences may need."""
        self.formats[path] = fmt
        if fmt == "evtx":
            yield from self._evtx(path)
            return
        try:
            yield from self._lines(path, fmt)
        except _FirstLine:  # raised before anything is read: the reader's own rules apply
            screen = self.record.keep
            for event in read_windows_events(path, fmt, on_error=self.on_error, screen=screen):
                yield event, self.record.targets

    def _full(
        self, raw: Any, fmt: str, seen: Counter[bytes], loc: Location
    ) -> NormalizedEvent | None:
        """The straightforward read of one record (screened per rule by `record`)."""
        try:
            return record_event(raw, fmt, seen, loc, self.record.keep)
        except DataError as err:
            report_error(err, loc, self.on_error)
            return None

    def _evtx(self, path: Path) -> Iterator[tuple[NormalizedEvent, list[int]]]:
        """Record by record; where a record is (`evtx_location`) is worked out only for
        those reported, noted or parsed. A noted record's text goes to a temporary spill
        file, so memory does not grow with them (the pack's unsigned-DLL sequence notes
        every Sysmon image load).

        The parser's text is encoded as Latin-1 when it can be (`evtx_scans`): a copy,
        where UTF-8 would convert it; a text with a character above U+00FF, or rules with
        a non-ASCII literal, take UTF-8 (`_wide`)."""
        rules, counts = self.rules, self.record.counts
        codec, narrow = rules.codec, rules.narrow_scan
        by_system, evtx_decision, decode = rules.by_system, rules.evtx_decision, _EVTX_RECORD
        blind = rules.blind
        refine = rules.refine if rules.pair_scan is not None else None
        seen: Counter[bytes] = Counter()
        noted = self.noted.setdefault(path, [])
        events = counts.events  # a local in the loop, written back around reads and yields
        try:
            for number, data in evtx_numbered_texts(path):
                if type(data) is str:
                    decision: Decision | None = None
                    try:
                        text = data.encode(codec)
                    except UnicodeEncodeError:
                        decision = self._wide(data, None)
                    else:
                        found = narrow(text)
                        if found is not None:
                            try:
                                system = decode(text).Event.System
                            except _UNREADABLE:
                                decision = self._wide(data, found)
                            else:
                                if system.Computer not in EMPTY_VALUES:  # else: read straight
                                    decision = blind.get(found)
                                    if decision is None:
                                        key = (
                                            system.EventID,
                                            system.Provider,
                                            system.Channel,
                                            found,
                                        )
                                        decision = by_system.get(key) or evtx_decision(
                                            system, found
                                        )
                                    if decision is not None and decision.now and refine:
                                        decision = refine(system, found, data)
                    if decision is not None and not decision.now:
                        if decision.hold:
                            loc = evtx_location(path, number)
                            utf8 = data.encode()  # what `resolve` parses
                            offset = self._spill(path, utf8)
                            noted.append(Noted(offset, len(utf8), loc, events, decision.hold))
                        events += 1
                        continue
                counts.events = events
                event = self._evtx_record(evtx_location(path, number), data, seen)
                if event is not None:
                    yield event, self.record.targets
                events = counts.events
        finally:
            counts.events = events

    def _wide(self, data: str, found: frozenset[int] | None) -> Decision | None:
        """The decision for an EVTX text from its UTF-8 bytes (the needles too, unless
        `found`): a text Latin-1 cannot encode, or whose head does not decode from it
        (None: read it straight, e.g. a lone surrogate, which no encoding takes)."""
        try:
            text = data.encode()
        except UnicodeEncodeError:
            return None
        if found is None:
            found = self.rules.wide_scan(text)
            if found is None:
                return None
        try:
            system = _EVTX_RECORD(text).Event.System
        except _UNREADABLE:
            return None
        return self.rules.evtx_decision(system, found)

    def _spill(self, path: Path, text: bytes) -> int:
        """Where `text` starts in `path`'s spill file, once written there."""
        spill = self.spills.get(path)
        if spill is None:
            import tempfile  # only files with noted records need it

            spill = self.spills[path] = tempfile.TemporaryFile()  # noqa: SIM115 - see resolve
        offset = spill.tell()
        spill.write(text)
        return offset

    def _evtx_record(
        self, loc: Location, data: Any, seen: Counter[bytes]
    ) -> NormalizedEvent | None:
        """A record the screen cannot rule out: parsed and normalised, or reported."""
        if isinstance(data, DataError):
            report_error(data, loc, self.on_error)
            return None
        if isinstance(data, str):
            try:
                data = orjson.loads(data)
            except orjson.JSONDecodeError as exc:
                report_error(DataError(f"unreadable EVTX record: {exc}"), loc, self.on_error)
                return None
        return self._full(data, "evtx", seen, loc)

    def _lines(self, path: Path, fmt: str) -> Iterator[tuple[NormalizedEvent, list[int]]]:
        rules, counts, line_of = self.rules, self.record.counts, self._line
        decode, head = head_reader(fmt)
        scan, decide, note = rules.scan, rules.decide, self.noted.setdefault(path, []).append
        refine = rules.refine_head if fmt == "nxlog" and rules.pair_scan is not None else None
        seen: Counter[bytes] = Counter()
        where = str(path)
        number = 0  # lines as a text read counts them (a lone \r ends a line there)
        with open_lines(path) as stream:
            first = stream.readline()
            pieces = _text_lines(first.removeprefix(_BOM)) if first else []
            for piece in pieces:  # the first line is always parsed (see `_FirstLine`)
                number += 1
                event = line_of(piece, number, fmt, seen, where)
                if event is not None:
                    yield event, self.record.targets
            events = counts.events  # locals in the hot loop, written back below
            offset, decided = len(first), rules.decided
            try:
                for line in stream:
                    start = offset
                    offset += len(line)
                    number += 1
                    cr = line.find(b"\r")
                    if cr >= 0 and cr != len(line) - 2:
                        number -= 1
                        for piece in _text_lines(line):
                            number += 1
                            counts.events = events
                            event = line_of(piece, number, fmt, seen, where)
                            if event is not None:
                                yield event, self.record.targets
                            events = counts.events
                        continue
                    found = scan(line)
                    if found is not None:
                        try:
                            known = head(decode(line))
                        except INVALID:
                            known = None
                        if known is not None:
                            decision = decided.get((known, found)) or decide(known, found)
                            if decision.now and refine is not None:
                                decision = refine(known, found, line)
                            if not decision.now:
                                if decision.hold:
                                    loc = Location(file=where, line=number)
                                    note(Noted(start, len(line), loc, events, decision.hold))
                                events += 1
                                continue
                    counts.events = events
                    event = line_of(line, number, fmt, seen, where)
                    if event is not None:
                        yield event, self.record.targets
                    events = counts.events
            finally:
                counts.events = events

    def _line(
        self, line: bytes, number: int, fmt: str, seen: Counter[bytes], where: str
    ) -> NormalizedEvent | None:
        """One line as `sources.json_records` reads it, then the straightforward read."""
        loc = Location(file=where, line=number)
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            decoded = line.decode("utf-8", errors="replace")
            if not decoded.strip():
                return None
            try:
                value = orjson.loads(decoded)
            except orjson.JSONDecodeError as exc:
                if number == 1:
                    raise _FirstLine from exc
                report_error(DataError(f"invalid JSON: {exc}"), loc, self.on_error)
                return None
        if not isinstance(value, dict):
            report_error(DataError("line is not a JSON object"), loc, self.on_error)
            return None
        return self._full(value, fmt, seen, loc)

    # ---- noted lines, once the first stages are known ----------------------------------

    def resolve(
        self, queries: Sequence[CompiledQuery], events: Sequence[list[SourceEvent]]
    ) -> list[list[tuple[int, SourceEvent]]]:
        """The noted lines whose rules need them (a first-stage key in them), parsed, per
        rule with their positions."""
        extra: list[list[tuple[int, SourceEvent]]] = [[] for _ in queries]
        if not any(self.noted.values()):
            return extra
        searches: dict[int, Callable[[bytes], bool] | None] = {}
        for i in {r for notes in self.noted.values() for n in notes for r in n.rules}:
            key = self.rules.keys[i]
            assert key is not None
            texts = raw_key_texts(queries[i], events[i], key)
            searches[i] = None if texts is None else any_needle(texts, fast=self.rules.fast)
        try:
            for path, notes in self.noted.items():
                if notes and self.formats[path] == "evtx":
                    self._parse(_spilled(self.spills[path], notes), "evtx", searches, extra)
                elif notes:
                    self._parse(self._reread(path, notes), self.formats[path], searches, extra)
        finally:
            for spill in self.spills.values():
                spill.close()
            self.spills.clear()
        return extra

    def _parse(
        self,
        noted: Iterable[tuple[Noted, bytes | str]],
        fmt: str,
        searches: dict[int, Callable[[bytes], bool] | None],
        extra: list[list[tuple[int, SourceEvent]]],
    ) -> None:
        """Noted records whose rules find one of their keys in them, parsed and normalised."""
        seen: Counter[bytes] = Counter()  # noted records have record ids: never counted
        for note, line in noted:
            data = line.encode() if isinstance(line, str) else line
            need = [i for i in note.rules if _wanted(searches[i], data)]
            if not need:
                continue
            try:
                normalized = record_event(orjson.loads(line), fmt, seen, note.loc)
            except DataError as err:  # validated before: cannot happen
                report_error(err, note.loc, self.on_error)
                continue
            if normalized is not None:
                self.record.counts.normalized += 1
                event = SourceEvent(normalized.index, normalized.id, normalized.source)
                for i in need:
                    extra[i].append((note.position, event))

    def _reread(self, path: Path, notes: list[Noted]) -> Iterator[tuple[Noted, bytes]]:
        """The noted lines of `path`, read again (only where they are was kept); a line
        that is no longer whole there is reported, as the file changed."""
        with open_lines(path) as stream:
            for note in notes:
                stream.seek(note.offset - 1)
                line = stream.read(note.size + 1)
                if len(line) != note.size + 1 or line[0] != 0x0A:  # \n ends the line before
                    report_error(
                        DataError("file changed while it was read"), note.loc, self.on_error
                    )
                    return
                yield note, line[1:]


def _spilled(spill: IO[bytes], notes: list[Noted]) -> Iterator[tuple[Noted, bytes]]:
    """The noted EVTX records' texts, read back from their file's spill file."""
    for note in notes:
        spill.seek(note.offset)
        yield note, spill.read(note.size)


class _FirstLine(Exception):
    """The first line is no JSON: the file may be one pretty-printed document."""


def _text_lines(line: bytes) -> list[bytes]:
    """A line as a text read splits it (universal newlines: a lone \\r ends a line too)."""
    parts = line.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    if not parts[-1]:
        parts.pop()
    return parts


def _wanted(search: Callable[[bytes], bool] | None, line: bytes) -> bool:
    return search is None or search(line)


def raw_key_texts(
    query: CompiledQuery, events: Iterable[SourceEvent], key: int
) -> set[bytes] | None:
    """The join key (at `key`) of each first-stage match, as it is written in a raw record
    (JSON text without GUID braces, lower-cased); None when one is not ASCII text."""
    texts: set[bytes] = set()
    for event in events:
        stage = query.plan_for(event.index).stages[0]
        if not stage.match(event.source):
            continue
        for combo in stage.keys(event.source) or ():
            value = combo[key] if len(combo) > key else None
            if type(value) is not str or not value.isascii():
                return None
            needle = orjson.dumps(value)[1:-1].lower().removeprefix(b"{").removesuffix(b"}")
            if not needle:
                return None
            texts.add(needle)
    return texts
