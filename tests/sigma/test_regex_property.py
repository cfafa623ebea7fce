"""Property: a translated Sigma regex matches exactly what Python's re.search matches.

Patterns are drawn from the syntax the translation keeps (literals including Lucene's own
operator characters, classes, `\\d`/`\\s`, groups, alternation with empty branches, greedy
and lazy quantifiers, leading `^` and trailing `$`), over ASCII text without newlines
(Python's `.` stops at a newline, Lucene's does not).
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.engine.lucene import compile_lucene
from eqlwatch.sigma.regex import to_lucene

ALPHABET = 'aAb1 -."<#~&@/'
LITERALS = st.sampled_from(list(ALPHABET)).map(re.escape)
ATOMS = st.one_of(
    LITERALS,
    st.sampled_from([".", "\\d", "\\s", "[ab]", "[^a]", "[a-b1]", '["<]']),
)


QUANTIFIERS = st.sampled_from(["", "*", "+", "?", "{1,2}", "*?", "+?"])


def _extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    # Quantifiers go on atoms only and a group may only be optional: nested unbounded
    # quantifiers make Python's backtracking `re` (the reference here) exponential, and one
    # such example kept this test running for over 25 minutes.
    quantified = st.tuples(ATOMS, QUANTIFIERS).map("".join)
    group = st.tuples(st.sampled_from(["(", "(?:"]), inner, st.sampled_from(["", "?"])).map(
        lambda t: f"{t[0]}{t[1]}){t[2]}"
    )
    alternation = st.tuples(inner, st.one_of(inner, st.just(""))).map(
        lambda t: f"(?:{t[0]}|{t[1]})"
    )
    sequence = st.lists(st.one_of(inner, quantified, group, alternation), min_size=1, max_size=4)
    return sequence.map("".join)


PATTERNS = st.recursive(ATOMS, _extend, max_leaves=5)
TEXTS = st.text(alphabet=ALPHABET, max_size=12)


@settings(max_examples=300, deadline=5000)
@given(
    pattern=PATTERNS,
    start=st.booleans(),
    end=st.booleans(),
    ignore_case=st.booleans(),
    texts=st.lists(TEXTS, min_size=1, max_size=6),
)
def test_translation_keeps_the_language(
    pattern: str, start: bool, end: bool, ignore_case: bool, texts: list[str]
) -> None:
    full = ("^" if start else "") + pattern + ("$" if end else "")
    rx = to_lucene(full, ignore_case=ignore_case)
    matcher = compile_lucene([rx.pattern], rx.insensitive)
    python = re.compile(full, re.IGNORECASE if ignore_case else 0)
    for text in texts:
        assert matcher(text) == bool(python.search(text)), (full, rx.pattern, text)
