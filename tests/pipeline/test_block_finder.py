"""The block finder scans a block a window of whole lines at a time (leaving needles of
bytes the block lacks out) and finds exactly what one scan of the rest of the block with
every needle finds: each line the line screen keeps among them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.cli.query import QueryScreen
from eqlwatch.engine import compile_query
from eqlwatch.pipeline import hunt_index

# `*whoami*` on a text field: its needles include every non-ASCII byte, the case that made
# one scan over the rest of a block slow
QUERY = 'any where process.command_line : "*whoami*"'
LINES = st.lists(
    st.sampled_from(
        [
            b'{"process": {"command_line": "x"}}',
            b'{"process": {"command_line": "WHOAMI /all"}}',
            b'{"process": {"name": "cmd.exe", "x": "' + b"y" * 90 + b'"}}',
            '{"process": {"command_line": "caf\u00e9"}}'.encode(),
            b'{"process": {"command_line": "a\\\\\\u0077hoami"}}',
            b"",
            b"whoami",  # needles at a line's very start (the finder reads bytes, not JSON)
            "\u00e9t\u00e9".encode(),
            b"\\u0077",
            b'{"process": {"command_line": "a\x7fb"}}',  # DEL: ASCII, yet a needle
        ]
    ),
    max_size=40,
)


def _kept_lines(block: bytes) -> set[int]:
    """Numbers of the lines the line screen keeps: the finder must find each of them."""
    screen = QueryScreen(compile_query(QUERY), True, [])
    assert screen.scan is not None
    match = screen.scan.screen.match
    assert match is not None
    return {n for n, line in enumerate(block.split(b"\n")) if match(line) is not None}


def _finds(block: bytes, window: int) -> list[int]:
    screen = QueryScreen(compile_query(QUERY), True, [])
    assert screen.scan is not None
    assert screen.scan.screen.rules is not None
    find = screen.scan.screen.rules.block_finder()
    assert find is not None
    found, position = [], 0
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(hunt_index, "FIND_WINDOW", window)
        while (end := find(block, position)) >= 0:
            found.append(end)
            stop = block.find(b"\n", end)
            position = len(block) if stop < 0 else stop + 1
    return found


@settings(max_examples=150, deadline=None)
@given(LINES, st.sampled_from([1, 2, 30, 100, 500]), st.booleans())
def test_windows_find_what_one_scan_finds(lines: list[bytes], window: int, end: bool) -> None:
    block = b"\n".join(lines) + (b"\n" if end else b"")
    found = _finds(block, window)
    assert found == _finds(block, 1 << 30)
    assert _kept_lines(block) <= {block.count(b"\n", 0, at) for at in found}


def test_a_hit_in_the_last_line_of_a_long_block_is_found() -> None:
    block = b'{"process": {"command_line": "x"}}\n' * 5000 + b'{"a": "whoami"}\n'
    assert _finds(block, 64) == [len(block) - 3]  # the end of "whoami"
