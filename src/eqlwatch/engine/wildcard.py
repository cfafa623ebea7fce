"""Wildcard (`*`, `?`) and Lucene regular-expression matchers, built once per pattern.

Wildcards never backtrack: a pattern is split on `*` into fixed-length segments; the first
and last are anchored at the ends and each middle one is found leftmost, after the previous
one. With fixed-length segments the leftmost choice is always safe, so one left-to-right
pass decides the match and the cost is linear in the text for a fixed pattern (a 32,767-
character command line is as cheap as any other). Case-insensitive forms lower-case both
sides. Backslashes are literal characters, as in Elasticsearch EQL patterns.

Regular expressions follow Lucene's RegExp syntax, as Elasticsearch evaluates `regex` and
`regex~`, translated to RE2 (a linear-time engine) by `eqlwatch.engine.lucene`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from eqlwatch.engine.lucene import compile_lucene

Matcher = Callable[[str], bool]


def wildcard_regex(pattern: str) -> str:
    """The regular expression of a wildcard pattern (a reference for tests and tools)."""
    return "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)


class _Segment:
    """A `*`-free piece of a pattern: a fixed number of characters, `?` matching any one."""

    __slots__ = ("_rx", "size", "text")

    def __init__(self, text: str) -> None:
        self.text, self.size = text, len(text)
        # Fixed length and no quantifier: `re` tries each start once, O(size) per start.
        body = "".join("." if ch == "?" else re.escape(ch) for ch in text)
        self._rx = re.compile(body, re.DOTALL) if "?" in text else None

    def at(self, s: str, pos: int) -> bool:
        """Whether the segment matches `s` at exactly `pos`."""
        if self._rx is None:
            return s.startswith(self.text, pos)
        return self._rx.match(s, pos) is not None

    def find(self, s: str, start: int, end: int) -> int:
        """The leftmost start >= `start` of a match ending by `end`, or -1."""
        if self._rx is None:
            return s.find(self.text, start, end)
        m = self._rx.search(s, start, end)
        return -1 if m is None else m.start()


def _segmented(pattern: str) -> Matcher:
    """Whole-string match of one pattern in one left-to-right pass (see the module doc)."""
    if "*" not in pattern:
        whole = _Segment(pattern)
        return lambda s: len(s) == whole.size and whole.at(s, 0)
    parts = pattern.split("*")
    head, tail = _Segment(parts[0]), _Segment(parts[-1])
    middle = [_Segment(p) for p in parts[1:-1] if p]
    fixed = head.size + tail.size

    def match(s: str) -> bool:
        end = len(s) - tail.size
        if end < head.size or not head.at(s, 0) or not tail.at(s, end):
            return False
        pos = head.size
        for seg in middle:
            found = seg.find(s, pos, end)
            if found < 0:
                return False
            pos = found + seg.size
        return True

    return match if fixed or middle else _always


def _always(_: str) -> bool:
    return True


def _simple(pattern: str) -> Matcher | None:
    body = pattern.strip("*")
    if "*" in body or "?" in pattern:
        return None
    lead, trail = pattern.startswith("*"), pattern.endswith("*") and len(pattern) > 1
    if not lead and not trail:
        return pattern.__eq__
    if lead and trail:
        return lambda s: body in s
    if lead:
        return lambda s: s.endswith(body)
    return lambda s: s.startswith(body)


def _one(pattern: str) -> Matcher:
    simple = _simple(pattern)
    return simple if simple is not None else _segmented(pattern)


def compile_wildcards(patterns: Sequence[str], insensitive: bool) -> Matcher:
    """One matcher that is true when any pattern matches the whole string."""
    pats = [p.lower() for p in patterns] if insensitive else list(patterns)
    exact = frozenset(p for p in pats if "*" not in p and "?" not in p)
    globs = [_one(p) for p in dict.fromkeys(pats) if "*" in p or "?" in p]
    if not globs:
        match: Matcher = exact.__contains__
    elif not exact and len(globs) == 1:
        match = globs[0]
    else:
        match = lambda s: s in exact or any(g(s) for g in globs)  # noqa: E731
    return (lambda s: match(s.lower())) if insensitive else match


def compile_regexes(patterns: Sequence[str], insensitive: bool) -> Matcher:
    """Lucene regular expressions that must match the whole value (any of them).

    Raises `eqlwatch.engine.lucene.PatternError` naming the pattern when one is invalid or
    uses a construct the linear-time engine cannot express.
    """
    return compile_lucene(patterns, insensitive)
