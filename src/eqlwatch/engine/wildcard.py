"""Wildcard (`*`, `?`) and Lucene-style regular-expression matchers, built once per pattern.

Common pattern shapes (`abc`, `abc*`, `*abc`, `*abc*`) become plain string operations;
the rest become one anchored regular expression. Case-insensitive forms lower-case both
sides. Backslashes are literal characters, as in Elasticsearch EQL patterns.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

Matcher = Callable[[str], bool]


def wildcard_regex(pattern: str) -> str:
    """The anchored-by-fullmatch regular expression of a wildcard pattern."""
    out = []
    for ch in pattern:
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return "".join(out)


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


def compile_wildcards(patterns: Sequence[str], insensitive: bool) -> Matcher:
    """One matcher that is true when any pattern matches the whole string."""
    pats = [p.lower() for p in patterns] if insensitive else list(patterns)
    if len(pats) == 1:
        simple = _simple(pats[0])
        if simple is not None:
            return (lambda s: simple(s.lower())) if insensitive else simple
    if not any("*" in p or "?" in p for p in pats):
        exact = frozenset(pats)
        return (lambda s: s.lower() in exact) if insensitive else exact.__contains__
    rx = re.compile("|".join(f"(?:{wildcard_regex(p)})" for p in pats), re.DOTALL)
    if insensitive:
        return lambda s: rx.fullmatch(s.lower()) is not None
    return lambda s: rx.fullmatch(s) is not None


def compile_regexes(patterns: Sequence[str], insensitive: bool) -> Matcher:
    """Lucene regular expressions match the whole value; Python's syntax covers the overlap."""
    flags = re.DOTALL | (re.IGNORECASE if insensitive else 0)
    rx = re.compile("|".join(f"(?:{p})" for p in patterns), flags)
    return lambda s: rx.fullmatch(s) is not None
