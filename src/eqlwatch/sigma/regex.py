"""Sigma `re` values (Python/PCRE syntax, searched anywhere) → Lucene RegExp (whole value).

Elasticsearch reads an EQL `regex` as a Lucene RegExp matched against the whole value, where
`^ $ " < > # @ & ~` are not what they are in Python. The translation keeps the meaning or
refuses with the construct it cannot keep (lookarounds, back-references, word boundaries,
anchors inside the pattern).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Characters Lucene gives a meaning that Python does not: quoted when literal.
_LUCENE_ONLY = set('"<>#@&~')
_CLASS_ESCAPES = set("dDsSwW")
_PLAIN_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v"}
_REFUSED_ESCAPES = {
    "b": "a word boundary (\\b)",
    "B": "a non-boundary (\\B)",
    "A": "an anchor (\\A)",
    "Z": "an anchor (\\Z)",
    "z": "an anchor (\\z)",
    "G": "an anchor (\\G)",
}


class RegexError(ValueError):
    """A Sigma regex Lucene cannot express with the same meaning."""


@dataclass(frozen=True, slots=True)
class LuceneRegex:
    pattern: str
    insensitive: bool


def _quote(char: str) -> str:
    """One literal character in Lucene syntax."""
    if char.isalnum() or char == "_" or ord(char) > 127:
        return char
    if char in " ,'=!%:;`/":
        return char
    return "\\" + char


def _escape(pattern: str, i: int) -> tuple[str, int]:
    """The Lucene text for the escape at `pattern[i]` (a backslash) and the next index."""
    if i + 1 >= len(pattern):
        raise RegexError("the pattern ends with a lone backslash")
    nxt = pattern[i + 1]
    if nxt in _CLASS_ESCAPES:
        return "\\" + nxt, i + 2
    if nxt in _PLAIN_ESCAPES:
        return _quote(_PLAIN_ESCAPES[nxt]), i + 2
    if nxt in _REFUSED_ESCAPES:
        raise RegexError(f"{_REFUSED_ESCAPES[nxt]} has no Lucene equivalent")
    if nxt == "x" and i + 3 < len(pattern):
        digits = pattern[i + 2 : i + 4]
        try:
            return _quote(chr(int(digits, 16))), i + 4
        except ValueError:
            raise RegexError(f"bad hex escape \\x{digits}") from None
    if nxt.isdigit():
        raise RegexError(f"back-reference \\{nxt} has no Lucene equivalent")
    if nxt.isalpha():
        raise RegexError(f"escape \\{nxt} has no Lucene equivalent")
    return _quote(nxt), i + 2


def _char_class(pattern: str, i: int, *, fold: bool = False) -> tuple[str, int]:
    """Copy a `[...]` class starting at `pattern[i]`; literal specials quoted.

    Lucene's case-insensitive flag folds single letters in a class but not ranges, so with
    `fold` each letter range also gets its other-case twin (`a-f` adds `A-F`).
    """
    out = ["["]
    twins: list[str] = []
    i += 1
    if i < len(pattern) and pattern[i] == "^":
        out.append("^")
        i += 1
    first = True
    while i < len(pattern):
        char = pattern[i]
        if char == "]" and not first:
            out.extend(twins)
            out.append("]")
            return "".join(out), i + 1
        if char == "\\":
            text, i = _escape(pattern, i)
            out.append(text)
        elif char == "[" and pattern[i : i + 2] == "[:":
            raise RegexError("POSIX classes ([:alpha:]) have no Lucene equivalent")
        elif char == "-":
            low, high = pattern[i - 1 : i], pattern[i + 1 : i + 2]
            if fold and not first and _letters(low, high):
                twins.append(f"{low.swapcase()}-{high.swapcase()}")
            out.append("-")
            i += 1
        else:
            out.append(_quote(char))
            i += 1
        first = False
    raise RegexError("unterminated character class '['")


def _letters(low: str, high: str) -> bool:
    """Whether `low-high` is a range of ASCII letters of one case."""
    if not (low.isascii() and high.isascii() and low.isalpha() and high.isalpha()):
        return False
    return low.islower() == high.islower()


def _group_open(pattern: str, i: int) -> tuple[str, int]:
    """Translate `(` / `(?:` / `(?P<name>`: (text, next index)."""
    rest = pattern[i:]
    if not rest.startswith("(?"):
        return "(", i + 1
    if rest.startswith("(?:"):
        return "(", i + 3
    if rest.startswith("(?P<"):
        end = rest.find(">")
        if end < 0:
            raise RegexError("unterminated group name (?P<...")
        return "(", i + end + 1
    if rest[2:3] in ("=", "!") or rest.startswith(("(?<=", "(?<!")):
        raise RegexError("lookaround assertions ((?=, (?!, (?<=, (?<!) have no Lucene equivalent")
    end = rest.find(")")
    flags = rest[2:end] if end > 0 else ""
    if end > 0 and flags and set(flags) <= set("ims"):
        raise RegexError(f"inline flags (?{flags}) only work at the start of the pattern")
    raise RegexError(f"group syntax {rest[:4]!r} has no Lucene equivalent")


def to_lucene(pattern: str, *, ignore_case: bool = False) -> LuceneRegex:
    """A Python-syntax regex searched anywhere → the Lucene regex matching the same values."""
    out: list[str] = []
    insensitive = ignore_case
    anchored_start = pattern.startswith("^")
    i = 1 if anchored_start else 0
    flags = re.match(r"\(\?([is]+)\)", pattern)
    if flags is not None and not anchored_start:
        insensitive = insensitive or "i" in flags.group(1)
        i = flags.end()
        anchored_start = pattern[i : i + 1] == "^"
        if anchored_start:
            i += 1
    depth = 0
    top_level_or = False
    anchored_end = False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            text, i = _escape(pattern, i)
            out.append(text)
            continue
        if char == "[":
            text, i = _char_class(pattern, i, fold=insensitive)
            out.append(text)
            continue
        if char == "(":
            text, i = _group_open(pattern, i)
            out.append(text)
            depth += 1
            if pattern[i : i + 1] == "|":
                out.append('""')  # an empty alternative: Lucene needs the empty string
            continue
        if char == ")":
            depth -= 1
            if depth < 0:
                raise RegexError("unbalanced ')'")
        elif char == "|":
            top_level_or = top_level_or or depth == 0
            out.append("|")
            i += 1
            if pattern[i : i + 1] in ("", ")", "|") or pattern[i:] == "$":
                out.append('""')  # `(a|)`: Lucene reads an empty branch as an error
            continue
        elif char == "$":
            if i == len(pattern) - 1:
                anchored_end = True
                i += 1
                continue
            raise RegexError("'$' inside the pattern (an anchor) has no Lucene equivalent")
        elif char == "^":
            raise RegexError("'^' inside the pattern (an anchor) has no Lucene equivalent")
        elif char == "?" and out and out[-1] in ("*", "+", "?", "}"):
            i += 1  # a lazy quantifier: for a whole-value match, the same language
            continue
        elif char == "+" and out and out[-1] in ("*", "+", "?", "}"):
            raise RegexError("possessive quantifiers have no Lucene equivalent")
        elif char in _LUCENE_ONLY:
            out.append("\\" + char)
            i += 1
            continue
        out.append(char)
        i += 1
    if depth:
        raise RegexError("unbalanced '('")
    if top_level_or and (anchored_start or anchored_end):
        raise RegexError("an anchor on one alternative of a top-level '|' cannot be kept")
    body = "".join(out)
    prefix = "" if anchored_start else ".*"
    suffix = "" if anchored_end else ".*"
    if top_level_or:
        body = f"({body})"
    return LuceneRegex(f"{prefix}{body}{suffix}", insensitive)
