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


def _shape(pattern: str) -> tuple[str, str]:
    """("exact" | "prefix" | "suffix" | "contains" | "other", the literal part)."""
    if "?" in pattern:
        return "other", pattern
    body = pattern.strip("*")
    if "*" in body or not body:
        return ("other" if "*" in pattern else "exact"), pattern
    lead, trail = pattern[0] == "*", pattern[-1] == "*"
    if lead and trail:
        return "contains", body
    if lead:
        return "suffix", body
    return ("prefix", body) if trail else ("exact", body)


def _any_of(patterns: Sequence[str]) -> Matcher:
    """Patterns grouped by shape, so a long list costs a few C-level calls per value."""
    groups: dict[str, list[str]] = {}
    for p in dict.fromkeys(patterns):
        kind, text = _shape(p)
        groups.setdefault(kind, []).append(text)
    tests: list[Matcher] = []
    if "exact" in groups:
        tests.append(frozenset(groups["exact"]).__contains__)
    if "prefix" in groups:
        prefixes = tuple(groups["prefix"])
        tests.append(lambda s: s.startswith(prefixes))
    if "suffix" in groups:
        suffixes = tuple(groups["suffix"])
        tests.append(lambda s: s.endswith(suffixes))
    if "contains" in groups:
        needles = groups["contains"]
        tests.append(lambda s: any(n in s for n in needles))
    tests.extend(_segmented(p) for p in groups.get("other", ()))
    if len(tests) == 1:
        return tests[0]
    return lambda s: any(test(s) for test in tests)


def compile_wildcards(patterns: Sequence[str], insensitive: bool) -> Matcher:
    """One matcher that is true when any pattern matches the whole string."""
    match = _any_of([p.lower() for p in patterns] if insensitive else list(patterns))
    return (lambda s: match(s.lower())) if insensitive else match


def compile_regexes(patterns: Sequence[str], insensitive: bool) -> Matcher:
    """Lucene regular expressions that must match the whole value (any of them).

    Raises `eqlwatch.engine.lucene.PatternError` naming the pattern when one is invalid or
    uses a construct the linear-time engine cannot express.
    """
    return compile_lucene(patterns, insensitive)
