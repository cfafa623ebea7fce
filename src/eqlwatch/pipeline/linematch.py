"""Which rules may need a raw NDJSON line: one multi-needle search per line.

A `LineMatcher` answers, for one line, None (no rule can match it: do not parse it) or the
indexes of the rules to feed it to. A line is handed to every rule when it holds one of the
two characters `str.lower` turns into ASCII (U+0130 İ, U+212A Kelvin sign; the engine
compares without case through `str.lower`) or a real `\\uXXXX`/`\\/` escape, since the
needles (ASCII, matched without case) prove nothing there; other non-ASCII text cannot
supply an ASCII needle's characters. Hyperscan runs all needles, that test and the escape
test in one pass over the line; where it cannot be imported, a regular expression over
the lower-cased line does the same, slower. Compiled databases are kept between
processes (`engine/hsdb_cache.py`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence

from eqlwatch.engine.hsdb_cache import compiled
from eqlwatch.engine.needles import Group

Match = Callable[[bytes], list[int] | None]
# A backslash run of odd length followed by u or /: a real escape, not an escaped backslash.
_ESCAPE = rb"(?:^|[^\\])(?:\\\\)*\\[u/]"
# UTF-8 of the only characters whose `str.lower()` holds ASCII (tests check the list).
LOWERS_TO_ASCII = ("\u0130", "\u212a")
_NON_ASCII = b"|".join(b"".join(b"\\x%02x" % b for b in c.encode()) for c in LOWERS_TO_ASCII)


def lowers_to_ascii(line: bytes) -> bool:
    """Whether the line holds a non-ASCII character `str.lower` maps to ASCII text."""
    return not line.isascii() and any(c.encode() in line for c in LOWERS_TO_ASCII)


def escaped(line: bytes) -> bool:
    """Whether the line has a real `\\uXXXX` or `\\/` escape (`re` backtracks on paths)."""
    if b"\\u" not in line and b"\\/" not in line:
        return False
    plain = line.replace(b"\\\\", b"")
    return b"\\u" in plain or b"\\/" in plain


def _literal(needle: bytes) -> bytes:
    return b"".join(b"\\x%02x" % byte for byte in needle)


def _routes(per_rule: Sequence[Group]) -> tuple[list[bytes], list[list[int]]]:
    """Distinct needles, and for each the rules holding it."""
    needles = sorted({n for group in per_rule for n in group})
    rules = [[i for i, group in enumerate(per_rule) if n in group] for n in needles]
    return needles, rules


def python_matcher(per_rule: Sequence[Group]) -> Match:
    """The portable form: `re` over the lower-cased line."""
    needles, rules = _routes(per_rule)
    everyone = list(range(len(per_rule)))
    search = re.compile(b"|".join(_literal(n) for n in needles)).search
    index = {n: i for i, n in enumerate(needles)}

    def match(line: bytes) -> list[int] | None:
        if lowers_to_ascii(line) or escaped(line):
            return everyone
        low = line.lower()
        if search(low) is None:
            return None
        found = {r for n, i in index.items() if n in low for r in rules[i]}
        return sorted(found)

    return match


def hyperscan_matcher(per_rule: Sequence[Group], *, escapes: bool = True) -> Match | None:
    """All tests in one Hyperscan pass; None when Hyperscan is not available.

    `escapes=False` leaves out the non-ASCII and escape tests (plain needle search).
    """
    try:
        import hyperscan
    except ImportError:
        return None
    needles, rules = _routes(per_rule)
    everyone = list(range(len(per_rule)))
    expressions = [_literal(n) for n in needles]
    caseless, single = hyperscan.HS_FLAG_CASELESS, hyperscan.HS_FLAG_SINGLEMATCH
    flags = [caseless | single] * len(needles)
    if escapes:
        rules.append(everyone)  # the escape and non-ASCII patterns come last
        expressions.append(_ESCAPE + b"|" + _NON_ASCII)
        flags.append(single)
    db = compiled(expressions, range(len(expressions)), flags, hyperscan.HS_MODE_BLOCK)
    scratch = hyperscan.Scratch(db)
    found: list[int] = []
    scan = db.scan

    def on_match(ident: int, start: int, end: int, flags: int, context: object) -> None:
        found.append(ident)

    def match(line: bytes) -> list[int] | None:
        scan(line, match_event_handler=on_match, scratch=scratch)
        if not found:
            return None
        targets = sorted({r for ident in found for r in rules[ident]})
        found.clear()
        return targets

    return match


def any_needle(needles: Collection[bytes], *, fast: bool = True) -> Callable[[bytes], bool]:
    """Whether a line holds one of `needles` (lower-case), ignoring ASCII case."""
    ordered = sorted(needles)
    if not ordered:
        return lambda line: False
    matcher = hyperscan_matcher([frozenset(ordered)], escapes=False) if fast else None
    if matcher is not None:
        found = matcher
        return lambda line: found(line) is not None
    search = re.compile(b"|".join(_literal(n) for n in ordered)).search
    return lambda line: search(line.lower()) is not None


def line_matcher(per_rule: Sequence[Group], *, fast: bool = True) -> Match:
    """Hyperscan when `fast` and importable, else the `re` form (same answers)."""
    matcher = hyperscan_matcher(per_rule) if fast else None
    return matcher if matcher is not None else python_matcher(per_rule)


# A JSON number too large for a double (orjson rejects it, msgspec's validation skips it):
# an exponent of three or more digits ending the number, or a run of 200 digits (with an
# exponent below 100, overflowing takes over 209 integer digits). Hex digests match the
# first form; `_BIG_VALUE` then checks that a value (after `:`, `,` or `[`) is one.
_BIG_NUMBER = rb"[0-9][eE][+-]?[0-9]{3,}[,}\] \t\r\n]|[0-9]{200}"
_BIG_VALUE = re.compile(
    rb"[:,\[][ \t\r\n]*-?[0-9]+(?:\.[0-9]+)?[eE][+-]?[0-9]{3}|[:,\[][ \t\r\n]*-?[0-9]{200}"
).search
NeedleScan = Callable[[bytes], frozenset[int] | None]


def needle_scan(needles: Sequence[bytes], *, fast: bool = True, numbers: bool = True) -> NeedleScan:
    """The ids (positions in `needles`, lower-case, matched without ASCII case) of the
    needles a line holds; None when they prove nothing there and the line must be parsed:
    a real `\\u`/`\\/` escape, a character `str.lower` maps to ASCII, or (unless
    `numbers` is False: text whose writer cannot write such numbers) a number a validation
    without parsing would accept and the parser reject."""
    if fast:
        scan = _hyperscan_ids(needles, numbers)
        if scan is not None:
            return scan
    search = [(i, n) for i, n in enumerate(needles)]

    def portable(line: bytes) -> frozenset[int] | None:
        if lowers_to_ascii(line) or escaped(line) or _BIG_VALUE(line) is not None:
            return None
        low = line.lower()
        return frozenset(i for i, n in search if n in low)

    return portable


def _hyperscan_ids(needles: Sequence[bytes], numbers: bool = True) -> NeedleScan | None:
    try:
        import hyperscan
    except ImportError:
        return None
    caseless, single = hyperscan.HS_FLAG_CASELESS, hyperscan.HS_FLAG_SINGLEMATCH
    expressions = [_literal(n) for n in needles]
    flags = [caseless | single] * len(needles)
    special, big = len(needles), len(needles) + 1
    expressions += [_ESCAPE + b"|" + _NON_ASCII, *([_BIG_NUMBER] if numbers else [])]
    flags += [single] * (len(expressions) - len(flags))
    db = compiled(expressions, range(len(expressions)), flags, hyperscan.HS_MODE_BLOCK)
    scratch = hyperscan.Scratch(db)
    found: list[int] = []
    scan = db.scan
    nothing: frozenset[int] = frozenset()

    def on_match(ident: int, start: int, end: int, flags: int, context: object) -> None:
        found.append(ident)

    def match(line: bytes) -> frozenset[int] | None:
        scan(line, on_match, 0, None, scratch)  # positional: keywords cost 0.3 us a call
        if not found:
            return nothing
        ids = frozenset(found)
        found.clear()
        if special in ids or (big in ids and _BIG_VALUE(line) is not None):
            return None
        return ids - {big} if big in ids else ids

    return match
