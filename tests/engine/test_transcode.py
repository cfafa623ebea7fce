"""UTF-16/32 files read as UTF-8: the encoding told from the first bytes, positions that
read the same bytes again, and nothing undecodable passed on as valid UTF-8."""

from __future__ import annotations

import codecs
import gzip
import io
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.engine.reader import open_bytes, read_event_file
from eqlwatch.engine.transcode import Transcoded, wide_encoding

CODECS = ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"]
MARKS = {
    "utf-16-le": codecs.BOM_UTF16_LE,
    "utf-16-be": codecs.BOM_UTF16_BE,
    "utf-32-le": codecs.BOM_UTF32_LE,
    "utf-32-be": codecs.BOM_UTF32_BE,
}


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("marked", [True, False])
def test_the_encoding_is_told_with_or_without_a_mark(codec: str, marked: bool) -> None:
    data = (MARKS[codec] if marked else b"") + '{"a":1}'.encode(codec)
    assert wide_encoding(data[:4]) == (codec, len(MARKS[codec]) if marked else 0)


NOT_WIDE = [b'{"a"', b"[1,2", b"\xef\xbb\xbf{", b"ElfF", b"\x1f\x8b\x08\x00", b"", b"{"]


@pytest.mark.parametrize("head", [*NOT_WIDE, b"\x00\x00\x00\x00"])
def test_utf8_binary_and_short_heads_are_not_wide(head: bytes) -> None:
    assert wide_encoding(head) is None


text_lines = st.lists(st.text(max_size=40), max_size=30)


@settings(max_examples=200, deadline=None)
@given(
    lines=text_lines,
    codec=st.sampled_from(CODECS),
    marked=st.booleans(),
    steps=st.lists(
        st.tuples(st.sampled_from(["read", "seek", "tell"]), st.integers(0, 3000)), max_size=12
    ),
)
def test_reads_and_seeks_see_the_utf8_bytes(
    lines: list[str], codec: str, marked: bool, steps: list[tuple[str, int]]
) -> None:
    """Any mix of reads and seeks (back, forward, past the end) gives what the same
    operations give on the text's UTF-8 bytes."""
    text = "\n".join(lines)
    expected = io.BytesIO(text.encode("utf-8", "surrogatepass"))
    skip = len(MARKS[codec]) if marked else 0
    raw = io.BytesIO((MARKS[codec] if marked else b"") + text.encode(codec, "surrogatepass"))
    stream = io.BufferedReader(Transcoded(raw, skip, codec), buffer_size=64)
    for action, number in steps:
        if action == "read":
            assert stream.read(number) == expected.read(number)
        elif action == "seek":
            stream.seek(number)
            expected.seek(min(number, len(expected.getbuffer())))
        else:
            assert stream.tell() == expected.tell()
    assert stream.read() == expected.read()


def test_undecodable_input_becomes_lines_no_utf8_reader_accepts() -> None:
    """A lone surrogate and a torn last code unit: their lines are malformed, not
    silently altered; the lines around them are read."""
    lines16 = [f'{{"n":{i}}}'.encode("utf-16-le") for i in range(3)]
    lines16.insert(1, '{"n":"\ud800"}'.encode("utf-16-le", "surrogatepass"))
    newline = "\n".encode("utf-16-le")
    data = codecs.BOM_UTF16_LE + newline.join(lines16) + newline + b"{"  # torn: one byte
    stream = io.BufferedReader(Transcoded(io.BytesIO(data), 2, "utf-16-le"))
    lines = stream.read().split(b"\n")
    assert [orjson.loads(lines[i]) for i in (0, 2, 3)] == [{"n": 0}, {"n": 1}, {"n": 2}]
    for bad in (lines[1], lines[4]):
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(bad)


@pytest.mark.parametrize("packed", [False, True])
def test_open_bytes_and_the_reader_decode_a_utf16_file(tmp_path: Path, packed: bool) -> None:
    body = "".join(f'{{"n":{i},"name":"ünïcode {i}"}}\n' for i in range(5))
    data = codecs.BOM_UTF16_LE + body.encode("utf-16-le")
    path = tmp_path / ("events.ndjson.gz" if packed else "events.ndjson")
    path.write_bytes(gzip.compress(data) if packed else data)
    with open_bytes(path) as stream:
        assert stream.read() == body.encode()
    events, errors = read_event_file(path)
    assert [e.source["n"] for e in events] == list(range(5))
    assert errors.count == 0
