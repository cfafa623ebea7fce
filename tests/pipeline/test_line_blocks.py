"""`LineBlocks`: a file in blocks of whole lines, and the rest of it line by line from any
block on (`stream_blocks` switches to reading line by line there)."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.pipeline import hunt_scan
from eqlwatch.pipeline.hunt_scan import LineBlocks


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")), max_size=25),
    last_newline=st.booleans(),
    block=st.integers(1, 40),
    stop=st.integers(0, 30),
)
def test_blocks_then_the_rest_are_the_whole_file(
    lines: list[bytes], last_newline: bool, block: int, stop: int
) -> None:
    body = b"\n".join(lines) + (b"\n" if last_newline and lines else b"")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(hunt_scan, "BLOCK_BYTES", block)
        reader = LineBlocks(io.BufferedReader(io.BytesIO(body)))
        taken = []
        for piece in reader:
            taken.append(piece)
            if len(taken) > stop:
                break
        rest = b"".join(reader.rest())
    assert all(piece.endswith(b"\n") for piece in taken[:-1])
    assert all(taken)
    assert b"".join(taken) + rest == body
