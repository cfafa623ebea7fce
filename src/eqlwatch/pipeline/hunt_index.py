"""Many rules, one pass: which rules a line or an event can concern, at a cost that does not
grow with the number of rules that cannot.

Before parsing (`rule_matcher`): one Hyperscan pass finds every needle of every rule in
the line (`needles.query_screens`: per filter, its most selective group and a few more).
A rule is looked at only when a needle of some filter's best group occurred (an index from
needle to rules), and kept only when each group of that filter occurred too. A line no
rule keeps is not parsed.

After parsing (`CategoryIndex`): a rule gets the event only when some filter takes its
event category, read once per event — exactly what each rule's own dispatch would decide,
so a rule never sees an event it would have passed over.

Lines with a real `\\uXXXX`/`\\/` escape or a character `str.lower` maps to ASCII go to
every rule, as in `linematch`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

import msgspec

from eqlwatch.engine import CompiledQuery
from eqlwatch.engine.compiler import field_name
from eqlwatch.engine.hsdb_cache import compiled
from eqlwatch.engine.needles import Group, Screens
from eqlwatch.engine.parse import nodes as A
from eqlwatch.pipeline.linematch import LOWERS_TO_ASCII, Match, escaped, lowers_to_ascii

# A backslash run of odd length followed by u or /: a real escape (see linematch).
_ESCAPE = rb"(?:^|[^\\])(?:\\\\)*\\[u/]"
_NON_ASCII = b"|".join(b"".join(b"\\x%02x" % b for b in c.encode()) for c in LOWERS_TO_ASCII)

IdScreens = tuple[tuple[frozenset[int], ...], ...]
BlockFinder = Callable[[bytes, int], int]


def literal(needle: bytes) -> bytes:
    """A Hyperscan expression matching `needle`'s bytes exactly."""
    return b"".join(b"\\x%02x" % byte for byte in needle)


ESCAPE_OR_LOWERS = _ESCAPE + b"|" + _NON_ASCII  # a line the needles prove nothing about
WIDE = rb"[\x7f-\xff]"  # a byte no needle of printable ASCII holds


WIDE_SHARE = 8  # see `_hyperscan`
MEMO_SETS = 1 << 16  # needle sets whose rules `match` remembers (then starts afresh)
FIND_WINDOW = 1 << 14  # bytes `block_finder` scans at once, then to the line's end


class _Index:
    """Needle ids, the rules each id may start, and each rule's groups as id sets.

    `pending[r]`: filters of rule `r` that every match needs (a sequence's positive
    stages) and that no line has passed the screen of yet."""

    def __init__(
        self, per_rule: Sequence[Screens | None], required: Sequence[frozenset[int]]
    ) -> None:
        self.needles = sorted(
            {n for s in per_rule if s is not None for f in s for g in f for n in g}
        )
        ids = {n: i for i, n in enumerate(self.needles)}
        self.always = [r for r, s in enumerate(per_rule) if s is None]
        self.everyone = list(range(len(per_rule)))
        starts: list[set[int]] = [set() for _ in self.needles]
        self.screens: list[IdScreens] = []
        self.simple: list[bool] = []  # one group per filter: starting is keeping
        for r, screens in enumerate(per_rule):
            as_ids = tuple(tuple(frozenset(ids[n] for n in g) for g in f) for f in (screens or ()))
            self.screens.append(as_ids)
            self.simple.append(all(len(f) == 1 for f in as_ids))
            for f in as_ids:
                for i in f[0]:
                    starts[i].add(r)
        self.starts = [sorted(s) for s in starts]
        self.pending = {
            r: set(need) for r, need in enumerate(required) if need and per_rule[r] is not None
        }
        self.ids = ids
        self.last: Collection[int] | None = None  # needle ids of the line `match` last saw

    def targets(self, found: AbstractSet[int]) -> list[int] | None:
        """Rules kept for a line holding the needles `found` (None: no rule)."""
        pending, screens, simple = self.pending, self.screens, self.simple
        kept = []
        for r in {r for i in found for r in self.starts[i]}:
            need = pending.get(r)
            if need is not None:
                passed = [i for i, f in enumerate(screens[r]) if _passes(f, found)]
                if passed:
                    kept.append(r)
                    need.difference_update(passed)
                    if not need:
                        del pending[r]
            elif simple[r]:
                kept.append(r)
            else:
                for f in screens[r]:
                    if _passes(f, found):
                        kept.append(r)
                        break
        if self.always:
            kept += self.always
        elif not kept:
            return None
        kept.sort()
        return kept

    def everything(self) -> list[int]:
        """Every rule, for a line the needles prove nothing about."""
        self.pending.clear()
        return self.everyone


def _passes(groups: tuple[frozenset[int], ...], found: AbstractSet[int]) -> bool:
    for group in groups:  # noqa: SIM110 (no generator: this runs per rule and line)
        if group.isdisjoint(found):
            return False
    return True


class RuleIndex:
    """The per-line test (`match`) and, after a scan, the rules it proves cannot match."""

    def __init__(
        self, per_rule: Sequence[Screens | None], required: Sequence[frozenset[int]], fast: bool
    ) -> None:
        self._index = _Index(per_rule, required)
        matcher = _hyperscan(self._index) if fast else None
        self.match: Match = matcher if matcher is not None else _python(self._index)
        self._noted = matcher is not None  # `match` notes each line's needles (index.last)

    def block_finder(self) -> BlockFinder | None:
        """Where the next line that `match` may keep starts its hit, in a block of lines:
        one Hyperscan call runs over every line no needle (nor escape) is in. None when
        every line concerns some rule anyway, or without Hyperscan."""
        index = self._index
        if index.always:
            return None
        try:
            import hyperscan
        except ImportError:
            return None

        def database(needles: list[bytes]) -> tuple[Any, Any]:
            expressions = [literal(n) for n in needles]
            flags = [hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_SINGLEMATCH] * len(needles)
            expressions.append(ESCAPE_OR_LOWERS)
            flags.append(hyperscan.HS_FLAG_SINGLEMATCH)
            db = compiled(expressions, range(len(expressions)), flags, hyperscan.HS_MODE_BLOCK)
            return db, hyperscan.Scratch(db)

        # A block of ASCII without DEL holds no needle with another byte: those needles
        # (single non-ASCII bytes, see needles.py) are left out of its scans, where they
        # made every Hyperscan call slower.
        full = database(index.needles)
        plain = [n for n in index.needles if n.isascii() and b"\x7f" not in n]
        narrow = full if len(plain) == len(index.needles) else database(plain)
        last: list[Any] = [None, full]  # the last block and the database for it
        stop, ends = hyperscan.ScanTerminated, [0]

        def on_match(ident: int, start: int, end: int, flags: int, context: object) -> bool:
            ends[0] = end
            return True  # the first hit is all we want: stop the scan

        def find(block: bytes, start: int) -> int:
            """End offset of the first hit at or after `start` (a line start; -1: none).

            Scanned a window of whole lines at a time (16 KiB: 64 KiB cost twice as much on
            bench/eql_query.py's filter, 4 KiB no less): with single-byte needles (non-ASCII
            bytes) Hyperscan looks for them through the whole buffer before it stops, so
            one call over the rest of a 4 MiB block cost ~0.8 ms whatever the hit's
            distance. No needle or escape spans a newline, so windows cut at line ends
            find what one scan finds."""
            if block is not last[0]:
                last[0] = block
                last[1] = narrow if block.isascii() and b"\x7f" not in block else full
            db, scratch = last[1]
            view, size = memoryview(block), len(block)
            while start < size:
                cut = block.find(b"\n", start + FIND_WINDOW)
                end = size if cut < 0 else cut + 1
                try:
                    db.scan(view[start:end], on_match, 0, None, scratch)  # see `_hyperscan`
                except stop:
                    return start + ends[0]
                start = end
            return -1

        return find

    def first_stage_test(
        self, first: Sequence[Group | None]
    ) -> Callable[[bytes, list[int]], bool] | None:
        """`Candidates.may_hold` for the line `match` was last given, answered from the
        needles Hyperscan found in it instead of searching the lower-cased line again
        (the same answer: ASCII case-insensitive literals in an ASCII line). A rule one
        of whose first-stage needles is not among the screen's is searched for as before.
        None without Hyperscan (`match` does not note the needles then)."""
        index = self._index
        if not self._noted:
            return None
        as_ids: list[frozenset[int] | None] = []
        for group in first:
            known = group is not None and all(n in index.ids for n in group)
            as_ids.append(frozenset(index.ids[n] for n in group) if known and group else None)

        def may_hold(line: bytes, targets: list[int]) -> bool:
            found = index.last
            if found is None:
                raise AssertionError("first_stage_test before any match")
            needles = []
            for i in targets:
                group = first[i]
                if group is None:
                    return False
                needles.append(i)
            if not needles or not line.isascii() or escaped(line):
                return False
            for i in needles:
                ids = as_ids[i]
                if ids is None:
                    low = line.lower()
                    group = first[i]
                    assert group is not None
                    if any(n in low for n in group):
                        return False
                elif not ids.isdisjoint(found):
                    return False
            return True

        return may_hold

    def unmet(self) -> frozenset[int]:
        """Rules one of whose required filters no line passed the screen of: a sequence
        needs an event for each positive stage, so these have no hit in what was scanned."""
        return frozenset(self._index.pending)


def rule_index(
    per_rule: Sequence[Screens | None],
    required: Sequence[frozenset[int]] | None = None,
    *,
    fast: bool = True,
) -> RuleIndex | None:
    """The index of `per_rule`'s screens; None when no rule has one (every line to all)."""
    if all(s is None for s in per_rule):
        return None
    return RuleIndex(per_rule, required or [frozenset()] * len(per_rule), fast)


def rule_matcher(per_rule: Sequence[Screens | None], *, fast: bool = True) -> Match | None:
    """Rules each line may concern; None when no rule has a screen (every line to all)."""
    index = rule_index(per_rule, fast=fast)
    return index.match if index is not None else None


def required_filters(query: CompiledQuery) -> frozenset[int]:
    """Filters every match of `query` has an event for: a sequence's positive stages."""
    parsed = query.parsed
    if parsed.kind != "sequence":
        return frozenset()
    return frozenset(i for i, s in enumerate(parsed.stages) if not s.missing)


def _python(index: _Index) -> Match:
    """The portable form: substring tests on the lower-cased line."""
    needles = list(enumerate(index.needles))
    always = index.always

    def match(line: bytes) -> list[int] | None:
        if lowers_to_ascii(line) or escaped(line):
            return index.everything()
        low = line.lower()
        found = {i for i, n in needles if n in low}
        return index.targets(found) if found else (always or None)

    return match


def _hyperscan(index: _Index) -> Match | None:
    try:
        import hyperscan
    except ImportError:
        return None
    needles = index.needles
    escape_id = len(needles)
    caseless, single = hyperscan.HS_FLAG_CASELESS, hyperscan.HS_FLAG_SINGLEMATCH

    def database(ids: list[int], extra: list[tuple[int, bytes]]) -> tuple[Any, Any]:
        expressions = [literal(needles[i]) for i in ids] + [e for _, e in extra]
        flags = [caseless | single] * len(ids) + [single] * len(extra)
        idents = [*ids, *(i for i, _ in extra)]
        db = compiled(expressions, idents, flags, hyperscan.HS_MODE_BLOCK)
        return db, hyperscan.Scratch(db)

    # Needles with a byte outside printable ASCII (single non-ASCII bytes, see
    # needles.py) make every scan slower (detection-rules' Windows rules over 200,000
    # endpoint lines: 0.79 s with them, 0.66 s without). Lines are scanned without them
    # first; a line holding such a byte (`WIDE` fires) is scanned again with every
    # needle, under the same ids. Where more than 1 line in `WIDE_SHARE` is such a line
    # (logs in another script), lines are scanned once with every needle instead.
    narrow_ids = [i for i, n in enumerate(needles) if n.isascii() and b"\x7f" not in n]
    full_db, full_scratch = database(list(range(len(needles))), [(escape_id, ESCAPE_OR_LOWERS)])
    if len(narrow_ids) == len(needles):
        db, scratch, wide_id = full_db, full_scratch, -1
    else:
        wide_id = escape_id + 1
        db, scratch = database(narrow_ids, [(escape_id, ESCAPE_OR_LOWERS), (wide_id, WIDE)])
    found: list[int] = []
    scan, targets = db.scan, index.targets
    always = index.always

    def on_match(ident: int, start: int, end: int, flags: int, context: object) -> None:
        found.append(ident)

    # Lines of one kind hold the same needles: the rules kept for a set of needles are
    # looked up, not worked out again (`targets` gives the same rules for the same set;
    # what it strikes from `pending` the first time, it would strike again).
    memo: dict[tuple[int, ...], list[int] | None] = {}

    # Arguments by position: Hyperscan's binding parses keywords at some cost per call
    # (0.16-0.19 -> 0.10 s for 200,000 calls of a 1.2 kB line); the order is `scan(data,
    # match_event_handler, flags, context, scratch)`.
    lines = wide = 0  # lines scanned, and those that held a wide byte

    def match(line: bytes) -> list[int] | None:
        nonlocal lines, wide
        lines += 1
        if wide * WIDE_SHARE > lines:
            full_db.scan(line, on_match, 0, None, full_scratch)
        else:
            scan(line, on_match, 0, None, scratch)
            if found and wide_id in found:
                wide += 1
                found.clear()
                full_db.scan(line, on_match, 0, None, full_scratch)
        if not found:
            index.last = ()
            return always or None
        # remembered by the ids in the order Hyperscan gave them (a tuple is cheaper to
        # build and hash than a set; lines of one kind give one order, another order is
        # one more entry with the same rules)
        key = tuple(found)
        found.clear()
        index.last = key
        kept = memo.get(key, memo)
        if kept is not memo:
            return kept  # type: ignore[return-value]
        hit = frozenset(key)
        if escape_id in hit:
            return index.everything()
        kept = targets(hit)
        if len(memo) >= MEMO_SETS:
            memo.clear()
        memo[key] = kept
        return kept

    return match


def categories_of(query: CompiledQuery) -> frozenset[str] | None:
    """Event categories some filter of `query` takes; None: any event may concern it.

    An `any` filter whose top-level `and` holds `event.category == "x"` or
    `event.category in ("x", ...)` takes those categories only (the same exact strings)."""
    parsed = query.parsed
    if query.settings.event_category_field != "event.category":
        return None
    found: set[str] = set()
    for stage in (*parsed.stages, *([parsed.until] if parsed.until else [])):
        if stage.event_type != "any":
            found.add(stage.event_type)
            continue
        tested = _tested_categories(stage.condition)
        if tested is None:
            return None
        found |= tested
    return frozenset(found)


def _tested_categories(node: Any) -> set[str] | None:
    """Categories a condition's top-level `and` requires `event.category` to equal."""
    terms = node.terms if isinstance(node, A.And) else [node]
    for term in terms:
        if isinstance(term, A.Comparison) and term.comparator == "==":
            sides = (term.left, term.right)
            field, value = sides if isinstance(term.left, A.Field) else sides[::-1]
            values = [value]
        elif isinstance(term, A.InSet):
            field, values = term.expression, list(term.container)
        else:
            continue
        if (
            isinstance(field, A.Field)
            and field_name(field)[0] == "event.category"
            and values
            and all(isinstance(v, A.String) for v in values)
        ):
            return {v.value for v in values}
    return None


class _Head(msgspec.Struct):
    """What `CategoryIndex.keep_line` reads of a line: `event` (decoded) and whether the
    line is a search hit whose `_source` is the event (then its category is elsewhere)."""

    event: Any = None
    hit: Any = msgspec.field(default=None, name="_source")


class _Category(msgspec.Struct):
    category: Any = None


class _Quick(msgspec.Struct):
    """The usual line: `event` an object (only its category decoded), no `_source`."""

    event: _Category | None = None
    hit: msgspec.Raw | None = msgspec.field(default=None, name="_source")


_HEAD = msgspec.json.Decoder(_Head).decode
_QUICK = msgspec.json.Decoder(_Quick).decode


class CategoryIndex:
    """Rules per event category, so a parsed event meets only rules that take it."""

    def __init__(self, per_rule: Sequence[frozenset[str] | None]) -> None:
        anyone = {r for r, cats in enumerate(per_rule) if cats is None}
        names = {c for cats in per_rule if cats is not None for c in cats}
        self.by_category: dict[str, frozenset[int]] = {
            c: frozenset(anyone | {r for r, cats in enumerate(per_rule) if cats and c in cats})
            for c in names
        }
        self.anyone = frozenset(anyone)
        self.useful = len(anyone) < len(per_rule)
        self._kept: dict[tuple[str, int], tuple[list[int], list[int]]] = {}

    def keep(self, source: Mapping[str, Any], targets: list[int]) -> list[int]:
        """The targets whose rules take the event's category (all when it is unreadable).

        Reads `event.category` as the rules' dispatch does when it is a nested object's
        string or list of strings; other shapes keep every target."""
        if not self.useful:
            return targets
        event = source.get("event")
        if type(event) is not dict:
            return targets
        value = event.get("category")
        if type(value) is str:
            allowed = self.by_category.get(value, self.anyone)
        elif type(value) is list and all(type(v) is str for v in value):
            allowed = self.anyone.union(*(self.by_category.get(v, ()) for v in value))
        else:
            return targets
        return [t for t in targets if t in allowed]

    def keep_line(self, line: bytes, targets: list[int]) -> list[int]:
        """`keep` for a line not parsed yet: msgspec decodes only its `event` object's
        category (and validates the rest), so a line whose category no target takes is
        never parsed. Raises msgspec.DecodeError on a line that is not one JSON object."""
        try:
            quick = _QUICK(line)
        except msgspec.ValidationError:  # another shape (or not an object): decode it all
            return self.keep_line_slow(line, targets)
        if quick.hit is not None:  # a search hit: its `_source` may be the event
            return self.keep_line_slow(line, targets)
        if quick.event is None:
            return targets
        value = quick.event.category
        if type(value) is list and len(value) == 1:  # ECS's usual one-string list
            value = value[0]
        if type(value) is str:
            # `match` hands out the same list for lines with the same needles: its rules
            # for this category are looked up (the list itself checked, not only its id)
            known = self._kept.get((value, id(targets)))
            if known is not None and known[0] is targets:
                return known[1]
            allowed = self.by_category.get(value, self.anyone)
            kept = [t for t in targets if t in allowed]
            if len(self._kept) >= MEMO_SETS:
                self._kept.clear()
            self._kept[value, id(targets)] = targets, kept
            return kept
        elif type(value) is list and all(type(v) is str for v in value):
            allowed = self.anyone.union(*(self.by_category.get(v, ()) for v in value))
        else:
            return targets
        return [t for t in targets if t in allowed]

    def keep_line_slow(self, line: bytes, targets: list[int]) -> list[int]:
        """`keep_line` decoding the whole `event` and `_source` (any shape)."""
        head = _HEAD(line)
        if type(head.hit) is dict:  # the event is the hit's `_source` (`source_event`)
            return self.keep(head.hit, targets)
        return self.keep({"event": head.event}, targets)
