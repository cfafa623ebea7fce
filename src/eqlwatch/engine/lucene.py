"""Lucene RegExp syntax, as Elasticsearch reads EQL `regex`/`regex~`, translated to RE2.

Elasticsearch turns an EQL regex into a Lucene `RegExp` with every optional syntax enabled
(ALL plus the deprecated complement) and matches the whole value; `regex~` adds ASCII case
insensitivity. Lucene's grammar is not Python's or PCRE's:

- `^`, `$` are ordinary characters; there are no anchors (the whole value always matches);
- `(?i)`, `(?:x)` are a group holding the characters `?i` / `?:x`; `.*?` is "optional
  `.*`", not a lazy quantifier (the same language);
- `\\d \\D \\s \\S \\w \\W` are ASCII classes (`\\s` is space, tab, newline, return);
  a backslash before any other letter is an error; before anything else it quotes it;
- `"..."` is a literal string; `@` any string; `#` the empty language; `<n-m>` a decimal
  interval (zero-padded to a fixed width when both ends have as many digits);
- `&` (intersection), `~` (complement) and `<name>` (named automaton) are operators.
- With `regex~`, literal ASCII letters (alone, in a class or in a quoted string) match both
  cases; class ranges such as `[a-z]` and the `\\w`-style classes do not widen.

The parser mirrors Lucene's recursive descent, so a pattern means what it means there. The
result is RE2 syntax, matched in time linear in the value. Intersection, complement and
named automata have no RE2 equivalent: they are a `PatternError` naming the construct, never
a different answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import re2

Matcher = Callable[[str], bool]

_MAX_CP = 0x10FFFF
_MAX_INT = 2**31 - 1
_RE2_MAX_REPEAT = 1000
# Letters after a backslash that Lucene rejects (every one but d, s, w in either case).
_RESERVED_LETTERS = "abcefghijklmnopqrtuvxyzABCEFGHIJKLMNOPQRTUVXYZ"
_SURROGATE = re.compile("[\ud800-\udfff]")
_DIGIT = ((0x30, 0x39),)
_SPACE = ((0x09, 0x0A), (0x0D, 0x0D), (0x20, 0x20))
_WORD = ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A))
_NOTHING = "[^\\x{0}-\\x{10FFFF}]"
_ANY = "(?s:.)"

Ranges = tuple[tuple[int, int], ...]


class PatternError(ValueError):
    """A regex that Lucene rejects, or that uses a construct RE2 cannot express."""


def _normalize(ranges: Sequence[tuple[int, int]]) -> Ranges:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return tuple(out)


def _complement(ranges: Ranges) -> Ranges:
    out, nxt = [], 0
    for lo, hi in ranges:
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= _MAX_CP:
        out.append((nxt, _MAX_CP))
    return tuple(out)


_PREDEFINED: dict[str, Ranges] = {
    "d": _DIGIT,
    "D": _complement(_DIGIT),
    "s": _SPACE,
    "S": _complement(_SPACE),
    "w": _WORD,
    "W": _complement(_WORD),
}


def _cp(c: int) -> str:
    ch = chr(c)
    return ch if ch.isascii() and ch.isalnum() else f"\\x{{{c:X}}}"


def _class(ranges: Ranges) -> str:
    if not ranges:
        return _NOTHING
    if ranges == ((0, _MAX_CP),):
        return _ANY
    if len(ranges) == 1 and ranges[0][0] == ranges[0][1]:
        return _cp(ranges[0][0])
    body = "".join(_cp(lo) if lo == hi else f"{_cp(lo)}-{_cp(hi)}" for lo, hi in ranges)
    return f"[{body}]"


def _fixed_range(lo: str, hi: str) -> str:
    """Digit strings of len(lo) == len(hi) between lo and hi inclusive."""
    if not lo:
        return ""
    if lo[0] == hi[0]:
        return lo[0] + _fixed_range(lo[1:], hi[1:])
    rest = len(lo) - 1
    alts = [lo[0] + _fixed_range(lo[1:], "9" * rest)]
    if int(hi[0]) - int(lo[0]) > 1:
        alts.append(f"[{int(lo[0]) + 1}-{int(hi[0]) - 1}]" + "[0-9]" * rest)
    alts.append(hi[0] + _fixed_range("0" * rest, hi[1:]))
    return "(?:" + "|".join(alts) + ")"


def interval(lo: int, hi: int, digits: int) -> str:
    """RE2 for Lucene's `<lo-hi>`: fixed width `digits` if > 0, else any leading zeros."""
    if digits > 0:
        return _fixed_range(str(lo).zfill(digits), str(hi).zfill(digits))
    alts = []
    for width in range(len(str(lo)), len(str(hi)) + 1):
        a = max(lo, 10 ** (width - 1) if width > 1 else 0)
        b = min(hi, 10**width - 1)
        alts.append(_fixed_range(str(a), str(b)))
    return "0*(?:" + "|".join(alts) + ")"


class _Parser:
    """Lucene's RegExp recursive descent (ALL syntax flags), emitting RE2 fragments.

    Every fragment returned is atomic: it can take a quantifier as it is.
    """

    def __init__(self, pattern: str, insensitive: bool) -> None:
        self.s, self.pos, self.ci = pattern, 0, insensitive

    # --- scanning ------------------------------------------------------------------------
    def more(self) -> bool:
        return self.pos < len(self.s)

    def peek(self, chars: str) -> bool:
        return self.more() and self.s[self.pos] in chars

    def match(self, ch: str) -> bool:
        if self.more() and self.s[self.pos] == ch:
            self.pos += 1
            return True
        return False

    def next(self) -> str:
        if not self.more():
            raise self.error("unexpected end of pattern")
        self.pos += 1
        return self.s[self.pos - 1]

    def error(self, why: str, at: int | None = None) -> PatternError:
        where = self.pos if at is None else at
        return PatternError(f"{why} at position {where}")

    def unsupported(self, what: str, at: int) -> PatternError:
        return self.error(
            f"Lucene {what} is not supported by eqlwatch's linear-time matcher "
            "(escape the character with a backslash to match it literally)",
            at,
        )

    # --- grammar -------------------------------------------------------------------------
    def parse(self) -> str:
        if not self.s:
            return ""
        out = self.union()
        if self.more():
            raise self.error(f"unexpected {self.s[self.pos]!r}, end of pattern expected")
        return out

    def union(self) -> str:
        alts = [self.inter()]
        while self.match("|"):
            alts.append(self.inter())
        return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"

    def inter(self) -> str:
        out = self.concat()
        if self.peek("&"):
            raise self.unsupported("intersection '&'", self.pos)
        return out

    def concat(self) -> str:
        items = [self.repeat()]
        while self.more() and not self.peek(")|&"):
            items.append(self.repeat())
        return items[0] if len(items) == 1 else "(?:" + "".join(items) + ")"

    def repeat(self) -> str:
        e = self.compl()
        while self.peek("?*+{"):
            op = self.next()
            if op != "{":
                e = f"(?:{e}{op})"
                continue
            n, m = self.integer(), -1
            if self.match(","):
                if self.peek("0123456789"):
                    m = self.integer()
            else:
                m = n
            if not self.match("}"):
                raise self.error("expected '}'")
            if m != -1 and n > m:
                raise self.error(f"invalid repetition range (out of order): {n}..{m}")
            if max(n, m) > _RE2_MAX_REPEAT:
                raise self.error(f"repetition count above {_RE2_MAX_REPEAT} is not supported")
            e = f"(?:{e}{{{n},}})" if m == -1 else f"(?:{e}{{{n},{m}}})"
        return e

    def integer(self) -> int:
        start = self.pos
        while self.peek("0123456789"):
            self.pos += 1
        if start == self.pos:
            raise self.error("integer expected")
        value = int(self.s[start : self.pos])
        if value > _MAX_INT:
            raise self.error(f"integer {value} is too large", start)
        return value

    def compl(self) -> str:
        if self.peek("~"):
            raise self.unsupported("complement '~'", self.pos)
        return self.char_class_exp()

    def char_class_exp(self) -> str:
        if not self.match("["):
            return self.simple()
        negate = self.match("^")
        ranges = self.char_class()
        while self.more() and not self.peek("]"):
            ranges += self.char_class()
        if not self.match("]"):
            raise self.error("expected ']'")
        norm = _normalize(ranges)
        return _class(_complement(norm) if negate else norm)

    def char_class(self) -> Ranges:
        pre = self.predefined()
        if pre is not None:
            return pre
        c = self.char_exp()
        if self.match("-"):
            to = self.char_exp()
            if ord(c) > ord(to):
                raise self.error(f"invalid range: from ({c!r}) cannot be > to ({to!r})")
            return ((ord(c), ord(to)),)
        return self.folded(c)

    def folded(self, c: str) -> Ranges:
        """A literal character, both ASCII cases of it under `regex~` (as Lucene does)."""
        if self.ci and c.isascii() and c.isalpha():
            return _normalize([(ord(c.lower()),) * 2, (ord(c.upper()),) * 2])
        return ((ord(c), ord(c)),)

    def predefined(self) -> Ranges | None:
        if not self.match("\\"):
            return None
        if self.peek("dDwWsS"):
            return _PREDEFINED[self.next()]
        if self.peek("\\"):
            return self.folded(self.next())
        if self.peek(_RESERVED_LETTERS):
            raise self.error(f"invalid character class \\{self.s[self.pos]}", self.pos - 1)
        return None

    def char_exp(self) -> str:
        self.match("\\")
        return self.next()

    def literal(self, text: str) -> str:
        return "".join(_class(self.folded(c)) for c in text)

    def simple(self) -> str:
        start = self.pos
        if self.match("."):
            return _ANY
        if self.match("#"):
            return _NOTHING
        if self.match("@"):
            return f"(?:{_ANY}*)"
        if self.match('"'):
            end = self.s.find('"', self.pos)
            if end < 0:
                self.pos = len(self.s)
                raise self.error("expected '\"'")
            text, self.pos = self.s[self.pos : end], end + 1
            return f"(?:{self.literal(text)})"
        if self.match("("):
            if self.match(")"):
                return "(?:)"
            inner = self.union()
            if not self.match(")"):
                raise self.error("expected ')'")
            return f"(?:{inner})"
        if self.match("<"):
            return self.angle(start)
        pre = self.predefined()
        if pre is not None:
            return _class(pre)
        return _class(self.folded(self.char_exp()))

    def angle(self, start: int) -> str:
        end = self.s.find(">", self.pos)
        if end < 0:
            self.pos = len(self.s)
            raise self.error("expected '>'")
        body, self.pos = self.s[self.pos : end], end + 1
        if "-" not in body:
            raise self.unsupported(f"named automaton '<{body}>'", start)
        lo_s, sep, hi_s = body.partition("-")
        if not sep or "-" in hi_s or not (lo_s.isdigit() and hi_s.isdigit()):
            raise self.error("interval syntax error", self.pos - 1)
        lo, hi = int(lo_s), int(hi_s)
        if max(lo, hi) > _MAX_INT:
            raise self.error("interval syntax error", self.pos - 1)
        digits = len(lo_s) if len(lo_s) == len(hi_s) else 0
        return f"(?:{interval(min(lo, hi), max(lo, hi), digits)})"


def show(pattern: str, limit: int = 120) -> str:
    """A pattern for an error message: quoted, and cut (marked) when very long."""
    if len(pattern) <= limit:
        return repr(pattern)
    return f"{pattern[:limit]!r}… ({len(pattern):,} characters)"


def translate(pattern: str, insensitive: bool = False) -> str:
    """The RE2 expression (to be matched whole) of one Lucene regular expression."""
    try:
        return _Parser(pattern, insensitive).parse()
    except RecursionError:
        raise PatternError("nested too deeply") from None


_OPTIONS = re2.Options()
_OPTIONS.log_errors = False
_OPTIONS.never_capture = True


def compile_lucene(patterns: Sequence[str], insensitive: bool) -> Matcher:
    """A whole-value matcher true when any of `patterns` matches (linear time)."""
    parts = []
    for p in patterns:
        try:
            parts.append(translate(p, insensitive))
        except PatternError as exc:
            raise PatternError(f"invalid regex {show(p)}: {exc}") from None
    names = ", ".join(map(show, patterns))
    return _whole("|".join(f"(?:{x})" for x in parts), f"regex {names}")


def compile_wildcard_query(text: str, insensitive: bool) -> Matcher:
    """The text of a Lucene `wildcard` query, matched whole: `*` is any string, `?` any one
    character, and a backslash makes the next character literal (a trailing one stands for
    itself). Elasticsearch runs `endsWith` and `stringContains` on a field as such a query
    with the literal pasted in unescaped, so there `*`, `?` and `\\` are not literal;
    `insensitive` is the query's `case_insensitive` (each character matches either case)."""
    body = []
    chars = iter(text)
    for ch in chars:
        if ch == "\\":
            body.append(re.escape(next(chars, "\\")))
        else:
            body.append("(?s:.*)" if ch == "*" else _ANY if ch == "?" else re.escape(ch))
    flags = "(?i)" if insensitive else ""
    return _whole(flags + "".join(body), f"wildcard {show(text)}")


def _whole(expression: str, what: str) -> Matcher:
    try:
        rx = re2.compile(expression, _OPTIONS)
    except (re2.error, UnicodeEncodeError) as exc:
        why = exc.args[0] if exc.args else ""
        why = why.decode(errors="replace") if isinstance(why, bytes) else str(why)
        raise PatternError(f"{what} cannot be compiled by RE2: {why}") from None
    full = rx.fullmatch

    def match(s: str) -> bool:
        try:
            return full(s) is not None
        except UnicodeEncodeError:  # a lone surrogate: RE2 reads UTF-8, so one U+FFFD each
            return full(_SURROGATE.sub("\ufffd", s)) is not None

    return match
