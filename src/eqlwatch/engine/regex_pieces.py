"""Literal text every value a Lucene regex matches must contain (for `needles`).

`regex`/`regex~` match the whole value, so in a regex that is one concatenation (no `|`,
`&`, `~` at its top level) each run of plain characters that no quantifier follows occurs
in every match, in one piece. Anything else (a class, a group, `.`, a quoted string, an
interval) only ends the current run; an operator whose meaning is not a concatenation
(`|`, `&`, `~`, `#`, `<`) gives nothing at all. Lucene's syntax is described in
`eqlwatch.engine.lucene`; this reads only the subset above and is conservative elsewhere.
"""

from __future__ import annotations

_ESCAPED_CLASSES = frozenset("dDsSwW")
_QUANTIFIERS = frozenset("*+?{")
_BREAKS = frozenset(".@")
_NOTHING = frozenset("|&~#<")


def _skip_class(pattern: str, i: int) -> tuple[int, str]:
    """Index after the class starting at `pattern[i] == "["`, and its text."""
    j = i + 1
    if j < len(pattern) and pattern[j] == "^":
        j += 1
    if j < len(pattern) and pattern[j] == "]":
        j += 1  # a leading `]` is a member
    while j < len(pattern) and pattern[j] != "]":
        j += 2 if pattern[j] == "\\" else 1
    if j >= len(pattern):
        raise ValueError("unterminated class")
    return j + 1, pattern[i + 1 : j]


def _skip_group(pattern: str, i: int) -> int:
    """Index after the group starting at `pattern[i] == "("` (nesting, classes, escapes)."""
    depth, j = 0, i
    while j < len(pattern):
        c = pattern[j]
        if c == "\\":
            j += 2
            continue
        if c == "[":
            j, _ = _skip_class(pattern, j)
            continue
        if c == '"':
            end = pattern.find('"', j + 1)
            if end < 0:
                raise ValueError("unterminated string")
            j = end + 1
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    raise ValueError("unterminated group")


def regex_pieces(pattern: str) -> tuple[list[str], str | None] | None:
    """The required runs of literal characters of `pattern`, and what its first atom is
    (the literal character, "[class text]" or None for anything else); None when the
    regex is not a plain concatenation (or is malformed)."""
    pieces: list[str] = []
    run: list[str] = []
    first: str | None = None
    last_literal = False
    i = 0
    try:
        while i < len(pattern):
            c = pattern[i]
            start = i == 0
            if c in _NOTHING:
                return None
            if c == "\\":
                if i + 1 >= len(pattern):
                    return None
                nxt = pattern[i + 1]
                i += 2
                if nxt in _ESCAPED_CLASSES:
                    pieces.append("".join(run))
                    run, last_literal = [], False
                    continue
                run.append(nxt)
                last_literal = True
                first = nxt if start else first
                continue
            if c in _QUANTIFIERS:
                if last_literal:
                    run.pop()
                pieces.append("".join(run))
                run, last_literal = [], False
                if c == "{":
                    end = pattern.find("}", i)
                    if end < 0:
                        return None
                    i = end + 1
                else:
                    i += 1
                continue
            if c not in '[("' and c not in _BREAKS and c not in ")]}":  # a plain character
                run.append(c)
                last_literal = True
                first = c if start else first
                i += 1
                continue
            pieces.append("".join(run))
            run, last_literal = [], False
            if c == "[":
                i, text = _skip_class(pattern, i)
                first = "[" + text + "]" if start else first
            elif c == "(":
                i = _skip_group(pattern, i)
            elif c == '"':
                end = pattern.find('"', i + 1)
                if end < 0:
                    return None
                i = end + 1
            else:  # `.`, `@` or a stray closing bracket
                i += 1
    except ValueError:
        return None
    pieces.append("".join(run))
    return [p for p in pieces if p], first


def may_start_with_brace(first: str | None) -> bool:
    """Could a match begin with `{` (an object's Python text), judging by its first atom?"""
    if first is None:
        return True
    if not first.startswith("[") or len(first) == 1:
        return first == "{"
    body = first[1:-1]
    if body.startswith("^") or "\\" in body:
        return True
    j = 0
    while j < len(body):
        if j + 2 < len(body) and body[j + 1] == "-":
            if ord(body[j]) <= ord("{") <= ord(body[j + 2]):
                return True
            j += 3
            continue
        if body[j] == "{":
            return True
        j += 1
    return False
