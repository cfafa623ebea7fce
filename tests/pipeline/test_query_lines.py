"""`query_lines.kept_lines` names, in one call over a block, exactly the lines the line-by-line
screen (`hunt_index`'s matcher for the same screens) keeps: needles in any case, escapes,
characters that lower to ASCII, non-ASCII needles, blank lines, a block without its last
newline."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.pipeline.hunt_index import rule_index
from eqlwatch.pipeline.query_lines import kept_lines

NEEDLES = [b'"start"', b"cmd.exe", b"connection_attempted", "é.exe".encode()]
PIECES = st.sampled_from(
    [
        b'"start"', b'"START"', b'"Start', b"CMD.exe", b"cmd.ex", b"connection_", b"attempted",
        b"\\u0041", b"\\\\u0041", b"\\/", b"\\\\/", "\u0130".encode(), "\u212a".encode(),
        "é.EXE".encode(), "É.exe".encode(), b"\xc3", b"\x7f", b"{", b"}", b" ", b"\\", b"x",
    ]
)  # fmt: skip
LINES = st.lists(st.lists(PIECES, max_size=8).map(b"".join), min_size=1, max_size=25)
SCREENS = st.lists(
    st.frozensets(st.sampled_from(NEEDLES), min_size=1, max_size=3), min_size=1, max_size=3
).map(lambda groups: tuple((g,) for g in groups))


@settings(max_examples=300, deadline=None)
@given(screens=SCREENS, lines=LINES, last_newline=st.booleans())
def test_a_block_keeps_the_lines_the_line_screen_keeps(
    screens: tuple[tuple[frozenset[bytes]], ...], lines: list[bytes], last_newline: bool
) -> None:
    spans = kept_lines([screens])
    index = rule_index([screens])
    assert spans is not None
    assert index is not None
    block = b"\n".join(lines) + (b"\n" if last_newline else b"")
    expected, start = [], 0
    for n, line in enumerate(lines):
        end = start + len(line) + (n < len(lines) - 1 or last_newline)
        if index.match(block[start:end]) is not None:
            expected.append((start, end))
        start = end
    assert spans(block) == expected
    assert spans(block) == expected  # nothing left over from the call before


def test_several_rules_or_groups_are_left_to_the_line_screen() -> None:
    one = (frozenset({b"cmd.exe"}),)
    assert kept_lines([(one,)]) is not None
    assert kept_lines([(one,), (one,)]) is None  # two rules
    assert kept_lines([((frozenset({b"a.exe"}), frozenset({b"b.exe"})),)]) is None
    assert kept_lines([None]) is None
