"""One query's line screen over a whole block: where the lines it keeps start.

`hunt_index` asks, line by line, which of many rules a line may concern. One query whose
every filter has one or two needle groups keeps a line exactly when the line holds a
needle of each group of some filter (or an escape, or a character `str.lower` maps to
ASCII: the needles prove nothing there). Then one Hyperscan call over a block reports
every such line at once, where the line-by-line screen made a Hyperscan call (and a
Python callback) per line and read most of a file line by line once over a quarter of
its lines were kept.

Two groups are one expression, `A[^\\n]*B|B[^\\n]*A`, plus every string in which a needle
of A and one of B overlap (a line holding `"cmd.exe"` holds `cmd.exe` too, yet not twice):
a line holds a needle of each group exactly when one of these matches inside it.
`conjoined_screens` picks the second group where a sample of the input says the pair is
rarer than the best group alone (the process names of a `process where event.action ==
"start" and process.name : (...)` stage are in most lines, as network and file events
name their process too, but with "start" in far fewer).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from eqlwatch.engine import CompiledQuery
from eqlwatch.engine.hsdb_cache import compiled
from eqlwatch.engine.needles import (
    Group,
    Sample,
    Screens,
    filters_groups,
    leaf_needles,
)
from eqlwatch.pipeline.hunt_index import ESCAPE_OR_LOWERS, literal

# (start, end) of each kept line of a block, in order; `end` is past its newline.
LineSpans = Callable[[bytes], list[tuple[int, int]]]

MAX_OVERLAPS = 256  # strings two groups' needles can share; more: the best group alone
PAIR_GAIN = 0.9  # a second group is used when its pair holds at most this share of lines


def conjoined_screens(query: CompiledQuery, sample: Sample | None) -> Screens | None:
    """Per filter (stages, then `until`): its best group and, when the sample says it pays,
    one more that must occur in the same line; None: any line may match. Without a sample,
    the best group alone (as `needles.query_screens` picks it)."""
    if sample:  # each needle found in one Hyperscan pass, not one `find` per line holding
        # it; single bytes (a `*text*` wildcard's non-ASCII ones) are rare: left to `find`
        sample.prime(n for n in leaf_needles(query) if len(n) > 1)
    found = filters_groups(query, sample)
    if found is None:
        return None
    return tuple((best, *_partner(best, groups, sample)) for best, groups in found)


def _partner(best: Group, groups: list[Group], sample: Sample | None) -> tuple[Group, ...]:
    if not sample or not pairable(best):
        return ()
    alone = _holding(sample, best)
    counted = [
        (len(alone & _holding(sample, g)), len(g), i, g)
        for i, g in enumerate(groups)
        if g != best and pairable(g) and len(overlaps(best, g)) <= MAX_OVERLAPS
    ]
    if not counted:
        return ()
    count, _, _, group = min(counted)
    return (group,) if count < len(alone) and count <= len(alone) * PAIR_GAIN else ()


def _holding(sample: Sample, group: Group) -> frozenset[int]:
    return frozenset().union(*map(sample.holding, group))


def pairable(group: Group) -> bool:
    """Needles a pair expression can hold: ASCII without DEL or a newline (so that one
    expression serves both of `kept_lines`' databases, and stays inside one line)."""
    return all(n and n.isascii() and b"\x7f" not in n and b"\n" not in n for n in group)


def overlaps(first: Group, second: Group) -> set[bytes]:
    """Every string in which a needle of `first` and one of `second` overlap (ASCII case
    aside, as Hyperscan's caseless matching has it): the shortest text holding both where
    they share at least a byte."""
    found: set[bytes] = set()
    for a in first:
        for b in second:
            la, lb = a.lower(), b.lower()
            for shift in range(-len(b) + 1, len(a)):  # where b starts, relative to a
                lo, hi = max(0, shift), min(len(a), shift + len(b))
                if la[lo:hi] == lb[lo - shift : hi - shift]:
                    head = a if shift >= 0 else b[:-shift] + a
                    tail = b[len(a) - shift :] if shift + len(b) > len(a) else b""
                    found.add(head + tail)
    return found


def _alternation(group: Group) -> bytes:
    return b"(?:" + b"|".join(literal(n) for n in sorted(group)) + b")"


def pair_expression(first: Group, second: Group) -> bytes:
    """A Hyperscan expression matching inside a line exactly when the line holds a needle
    of each group (case aside)."""
    a, b = _alternation(first), _alternation(second)
    ways = [a + rb"[^\n]*" + b, b + rb"[^\n]*" + a, *map(literal, sorted(overlaps(first, second)))]
    return b"|".join(ways)


def kept_lines(per_rule: Sequence[Screens | None], guard: bytes | None = None) -> KeptLines | None:
    """The block screen of a single query with one needle group per filter, or two that
    `pairable` allows; None for any other screen (several rules or groups) or without
    Hyperscan. With `guard` (an expression), a call asked to also tells in
    `KeptLines.guarded` whether the block holds a match of it."""
    if len(per_rule) != 1 or per_rule[0] is None:
        return None
    screens = per_rule[0]
    if not screens or not all(
        len(f) == 1 or (len(f) == 2 and pairable(f[0]) and pairable(f[1])) for f in screens
    ):
        return None
    try:
        import hyperscan
    except ImportError:
        return None
    return KeptLines(hyperscan, screens, guard)


class KeptLines:
    """`spans(block)`: where the kept lines of `block` are (see `kept_lines`)."""

    def __init__(self, hyperscan: Any, screens: Screens, guard: bytes | None) -> None:
        needles = sorted({n for f in screens if len(f) == 1 for n in f[0]})
        pairs = sorted({pair_expression(*f) for f in screens if len(f) == 2})
        caseless = hyperscan.HS_FLAG_CASELESS

        def database(chosen: list[bytes], guarded: list[bytes]) -> tuple[Any, Any]:
            # every occurrence is reported (no SINGLEMATCH: that would be once per block),
            # but the guard's first only
            expressions = [literal(n) for n in chosen] + pairs + [ESCAPE_OR_LOWERS] + guarded
            flags = [caseless] * (len(chosen) + len(pairs)) + [0]
            flags += [hyperscan.HS_FLAG_SINGLEMATCH] * len(guarded)
            db = compiled(expressions, range(len(expressions)), flags, hyperscan.HS_MODE_BLOCK)
            return db, hyperscan.Scratch(db)

        # a block of ASCII without DEL holds no needle with another byte (see hunt_index)
        plain = [n for n in needles if n.isascii() and b"\x7f" not in n]
        # (plain block, guarded) -> (database, scratch, the guard's id)
        self.databases: dict[tuple[bool, bool], tuple[Any, Any, int]] = {}
        for guarded in [False] + ([True] if guard is not None else []):
            more = [guard] if guard is not None and guarded else []
            full = database(needles, more)
            narrow = full if len(plain) == len(needles) else database(plain, more)
            self.databases[False, guarded] = (*full, len(needles) + len(pairs) + 1)
            self.databases[True, guarded] = (*narrow, len(plain) + len(pairs) + 1)
        self.can_guard = guard is not None
        self.guarded = False  # whether the last block, scanned with the guard, held it
        self.ends: list[int] = []

    def __call__(self, block: bytes, guard: bool = False) -> list[tuple[int, int]]:
        plain = block.isascii() and b"\x7f" not in block
        db, scratch, guard_id = self.databases[plain, guard and self.can_guard]
        ends = self.ends
        add = ends.append
        hits: list[int] = []

        def on_match(ident: int, start: int, end: int, flags: int, context: object) -> None:
            if ident == guard_id:
                hits.append(end)
            else:
                add(end)

        db.scan(block, match_event_handler=on_match, scratch=scratch)
        self.guarded = bool(hits)
        ends.sort()  # Hyperscan reports by end offset already: a check, nearly free
        found: list[tuple[int, int]] = []
        size, line_end = len(block), -1
        rfind, find = block.rfind, block.find
        for end in ends:
            if end <= line_end:
                continue  # another needle of a line already kept
            # a match never holds a newline as its last byte: `end - 1` is in the line
            start = rfind(b"\n", 0, end) + 1
            stop = find(b"\n", end)
            line_end = size if stop < 0 else stop
            found.append((start, line_end + 1 if stop >= 0 else size))
        ends.clear()
        return found
