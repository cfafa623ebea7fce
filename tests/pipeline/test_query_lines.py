"""`query_lines.kept_lines` names, in one call over a block, exactly the lines the line-by-line
screen (`hunt_index`'s matcher for the same screens) keeps: needles in any case, escapes,
characters that lower to ASCII, non-ASCII needles, blank lines, a block without its last
newline, and filters with two groups whose needles overlap or hold one another."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.engine import compile_query
from eqlwatch.engine.needles import Sample
from eqlwatch.pipeline.hunt_index import rule_index
from eqlwatch.pipeline.query_lines import conjoined_screens, kept_lines, overlaps

NEEDLES = [b'"start"', b"cmd.exe", b"connection_attempted", "é.exe".encode()]
PIECES = st.sampled_from(
    [
        b'"start"', b'"START"', b'"Start', b"CMD.exe", b"cmd.ex", b"connection_", b"attempted",
        b"\\u0041", b"\\\\u0041", b"\\/", b"\\\\/", "\u0130".encode(), "\u212a".encode(),
        "é.EXE".encode(), "É.exe".encode(), b"\xc3", b"\x7f", b"{", b"}", b" ", b"\\", b"x",
        b'"start"cmd.exe"', b'"cmd.exe"start"', b"cmd.exe", b'start"', b'"s', b"\n",
    ]
)  # fmt: skip
LINES = st.lists(st.lists(PIECES, max_size=8).map(b"".join), min_size=1, max_size=25)
SCREENS = st.lists(
    st.frozensets(st.sampled_from(NEEDLES), min_size=1, max_size=3), min_size=1, max_size=3
).map(lambda groups: tuple((g,) for g in groups))
# needles that overlap (`"start"` and `start"`), hold one another (`cmd.exe` in
# `"cmd.exe"`) or meet end to start (`"start"` and `"cmd.exe"` share a quote)
PAIRABLE = [b'"start"', b'start"', b'"s', b"cmd.exe", b'"cmd.exe"', b'cmd.exe"', b"t", b"x"]
GROUP = st.frozensets(st.sampled_from(PAIRABLE), min_size=1, max_size=3)
PAIRED = st.lists(
    st.one_of(GROUP.map(lambda g: (g,)), st.tuples(GROUP, GROUP)), min_size=1, max_size=3
).map(tuple)


@settings(max_examples=300, deadline=None)
@given(screens=st.one_of(SCREENS, PAIRED), lines=LINES, last_newline=st.booleans())
def test_a_block_keeps_the_lines_the_line_screen_keeps(
    screens: tuple[tuple[frozenset[bytes]], ...], lines: list[bytes], last_newline: bool
) -> None:
    spans = kept_lines([screens])
    index = rule_index([screens])
    assert spans is not None
    assert index is not None
    lines = [piece for line in lines for piece in line.split(b"\n")]
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
    two = (frozenset({b"a.exe"}), frozenset({b"b.exe"}))
    assert kept_lines([(two,)]) is not None
    assert kept_lines([((*two, frozenset({b"c.exe"})),)]) is None  # three groups
    assert kept_lines([((frozenset({"é".encode()}), two[0]),)]) is None  # not ASCII
    assert kept_lines([None]) is None


def test_overlaps_are_the_texts_holding_both_needles_in_one_place() -> None:
    assert overlaps(frozenset({b'"start"'}), frozenset({b'"cmd"'})) == {
        b'"start"cmd"',
        b'"cmd"start"',
    }
    assert overlaps(frozenset({b'"cmd.exe"'}), frozenset({b"cmd"})) == {b'"cmd.exe"'}
    assert overlaps(frozenset({b"ab"}), frozenset({b"ba"})) == {b"aba", b"bab"}
    assert overlaps(frozenset({b"ab"}), frozenset({b"cd"})) == set()


STAGE = 'process where event.action == "start" and process.name : ("cmd.exe", "a.exe")'
START = b'{"event":{"category":["process"],"action":"start"},"process":{"name":"%s"}}'
NETWORK = b'{"event":{"category":["network"]},"process":{"name":"cmd.exe"}}'


def test_a_second_group_is_kept_where_the_sample_says_the_pair_is_rarer() -> None:
    query = compile_query(f"sequence by process.name [{STAGE}] [network where true]")
    # names are in most lines (network events name their process), "start" in half
    lines = [START % b"cmd.exe", START % b"b.exe", NETWORK, NETWORK] * 10
    screens = conjoined_screens(query, Sample(lines))
    assert screens is not None
    assert screens[0] == (frozenset({b'"start"'}), frozenset({b'"cmd.exe"', b'"a.exe"'}))
    assert screens[1] == (frozenset({b'"network"'}),)
    # where every "start" line names one of them, the pair keeps no fewer: one group
    same = conjoined_screens(query, Sample([START % b"cmd.exe", NETWORK] * 10))
    assert same is not None
    assert len(same[0]) == 1
    assert conjoined_screens(query, None) is not None
