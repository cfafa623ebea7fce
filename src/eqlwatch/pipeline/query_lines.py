"""One query's line screen over a whole block: where the lines it keeps start.

`hunt_index` asks, line by line, which of many rules a line may concern. One query whose
every filter has a single needle group keeps a line exactly when the line holds one of
its needles (or an escape, or a character `str.lower` maps to ASCII: the needles prove
nothing there). Then one Hyperscan call over a block reports every such line at once,
where the line-by-line screen made a Hyperscan call (and a Python callback) per line and
read most of a file line by line once over a quarter of its lines were kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from eqlwatch.engine.hsdb_cache import compiled
from eqlwatch.engine.needles import Screens
from eqlwatch.pipeline.hunt_index import ESCAPE_OR_LOWERS, literal

# (start, end) of each kept line of a block, in order; `end` is past its newline.
LineSpans = Callable[[bytes], list[tuple[int, int]]]


def kept_lines(per_rule: Sequence[Screens | None]) -> LineSpans | None:
    """The block screen of a single query with one needle group per filter; None for any
    other screen (several rules or groups) or without Hyperscan."""
    if len(per_rule) != 1 or per_rule[0] is None:
        return None
    screens = per_rule[0]
    if not screens or not all(len(f) == 1 for f in screens):
        return None
    try:
        import hyperscan
    except ImportError:
        return None
    needles = sorted({n for f in screens for n in f[0]})

    def database(chosen: list[bytes]) -> tuple[Any, Any]:
        # every occurrence is reported (no SINGLEMATCH: that would be once per block)
        expressions = [literal(n) for n in chosen] + [ESCAPE_OR_LOWERS]
        flags = [hyperscan.HS_FLAG_CASELESS] * len(chosen) + [0]
        db = compiled(expressions, range(len(expressions)), flags, hyperscan.HS_MODE_BLOCK)
        return db, hyperscan.Scratch(db)

    full = database(needles)
    # a block of ASCII without DEL holds no needle with another byte (see hunt_index)
    plain = [n for n in needles if n.isascii() and b"\x7f" not in n]
    narrow = full if len(plain) == len(needles) else database(plain)
    ends: list[int] = []
    add = ends.append

    def on_match(ident: int, start: int, end: int, flags: int, context: object) -> None:
        add(end)

    def spans(block: bytes) -> list[tuple[int, int]]:
        db, scratch = narrow if block.isascii() and b"\x7f" not in block else full
        db.scan(block, match_event_handler=on_match, scratch=scratch)
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

    return spans
