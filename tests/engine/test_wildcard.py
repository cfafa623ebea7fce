"""Wildcard matching: the segment matcher agrees with `re`, and hostile values stay cheap."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from eqlwatch.engine.wildcard import compile_wildcards, wildcard_regex
from eqlwatch.rules.exceptions import ExceptionEntry

# Letters in both cases, the wildcard characters themselves, regex metacharacters, a
# backslash, a newline and non-ASCII letters whose lower case differs.
PATTERN_CHARS = "aAbB*?.\\\n[É"
TEXT_CHARS = "aAbB*?.\\\n[Éé"


def reference(patterns: list[str], text: str, insensitive: bool) -> bool:
    """The plain translation to Python's `re` (backtracking, fine on short strings)."""
    if insensitive:
        patterns, text = [p.lower() for p in patterns], text.lower()
    return any(re.fullmatch(wildcard_regex(p), text, re.DOTALL) for p in patterns)


@settings(max_examples=600)
@given(
    st.lists(st.text(PATTERN_CHARS, max_size=7), min_size=1, max_size=4),
    st.text(TEXT_CHARS, max_size=10),
    st.booleans(),
)
@example(["*a?b*"], "xaAbx", True)
@example(["a*?"], "a", False)
@example(["?*?"], "a", False)
@example(["*ab*ab"], "abab", False)
@example(["É*"], "éa", True)
def test_agrees_with_re(patterns: list[str], text: str, insensitive: bool) -> None:
    assert compile_wildcards(patterns, insensitive)(text) is reference(patterns, text, insensitive)


@settings(max_examples=1000)
@given(st.text("ab*?", max_size=8), st.text("ab", max_size=8))
def test_agrees_with_re_on_a_small_alphabet(pattern: str, text: str) -> None:
    """Two letters make overlapping segments common: where a leftmost search goes wrong."""
    assert compile_wildcards([pattern], False)(text) is reference([pattern], text, False)


@given(st.text(PATTERN_CHARS, max_size=6), st.text(TEXT_CHARS, max_size=6), st.booleans())
def test_a_pattern_matches_text_built_from_it(pattern: str, fill: str, insensitive: bool) -> None:
    """Replacing each `*` with any text and each `?` with one character always matches."""
    text = "".join(fill if ch == "*" else (fill[:1] or "z") if ch == "?" else ch for ch in pattern)
    assert compile_wildcards([pattern], insensitive)(text)


@pytest.mark.parametrize(
    ("pattern", "text", "insensitive", "expected"),
    [
        ("*\\AppData\\*\\*.exe", "C:\\Users\\x\\AppData\\Local\\a.EXE", True, True),
        ("*\\AppData\\*\\*.exe", "C:\\Users\\x\\AppData\\Local\\a.EXE", False, False),
        ("*\\AppData\\*\\*.exe", "C:\\AppData\\a.exe", True, False),
        ("*.exe", "a.exe\n", False, False),
        ("a?c", "a\nc", False, True),
        ("*", "", False, True),
        ("?", "", False, False),
        ("", "", False, True),
    ],
)
def test_cases(pattern: str, text: str, insensitive: bool, expected: bool) -> None:
    assert compile_wildcards([pattern], insensitive)(text) is expected


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("*\\AppData\\*\\*.exe", "C:\\Users\\bob\\AppData\\Local\\" * 1300, False),
        ("*\\AppData\\*\\*.exe", "C:\\Users\\bob\\AppData\\" * 1300 + "x\\a.exe", True),
        ("*a*a*a*a*a*a*a*a*b", "a" * 32_767, False),
        ("*a?a*a?a*a?a*b", "a" * 32_767, False),
        ("*a?a*a?a*a?a*b", "a" * 32_766 + "b", True),
    ],
)
def test_hostile_values_are_linear(pattern: str, text: str, expected: bool) -> None:
    """Patterns that took `re` minutes on 32,767 characters decide in milliseconds."""
    matcher = compile_wildcards([pattern], insensitive=True)
    start = time.perf_counter()
    assert matcher(text) is expected
    assert time.perf_counter() - start < 0.5  # generous (bench/match_bench.py: well under 1 ms)


def test_rule_exceptions_use_the_linear_matcher() -> None:
    """`[[eqlwatch.exceptions]]` wildcards meet the same attacker-controlled values."""
    entry = ExceptionEntry(
        field="process.command_line", values=("*\\AppData\\*\\*.exe",), match="wildcard"
    )
    hostile = {"process": {"command_line": "C:\\Users\\bob\\AppData\\Local\\" * 1300}}
    benign = {"process": {"command_line": "C:\\USERS\\bob\\APPDATA\\x\\Tool.EXE"}}
    start = time.perf_counter()
    assert not entry.matches_source(hostile)
    assert time.perf_counter() - start < 0.5
    assert entry.matches_source(benign)
