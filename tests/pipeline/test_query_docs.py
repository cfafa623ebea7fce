"""`query_docs.partial_decoder` gives the engine the values orjson gives, for every field the
query reads, under any mix of nested and dotted keys; where it cannot (numbers out of
range, bytes that are not ASCII, shapes its type refuses) the guard or msgspec says so,
and `query` then parses the line whole (tests/cli/test_query_screen.py holds the answers
to the unscreened ones)."""

from __future__ import annotations

import math
import re
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.engine.schema import raw_reader
from eqlwatch.pipeline.query_docs import ENVELOPE, UNSAFE_NUMBERS, partial_decoder

PARTS = ["process", "name", "parent", "a", "id", "_id", "event", "category"]
FIELDS = st.lists(st.sampled_from(PARTS), min_size=1, max_size=3).map(".".join)
NUMBERS = [
    "0", "-0", "1", "-7", "1.5", "-0.0", "1e5", "1E+2", "2.5e-3", "1e-400", "1e308",
    "9223372036854775807", "9223372036854775808", "18446744073709551615",
    "18446744073709551616", "-9223372036854775809", "123456789012345678901234567890",
    "1e999", "-1e400", "1.7976931348623157e308", "0.1e310", "00", "1.", "+1",
]  # fmt: skip
STRINGS = ['"cmd.exe"', '"x\\u0041"', '"\\ud800"', '"é"', '"\\n"', '""', '"\\"q"']
RAW_STRINGS = [b'"\xff"', b'"\xed\xa0\x80"', b'"\xc3\xa9"']


@st.composite
def value(draw: st.DrawFn, depth: int = 0) -> bytes:
    """JSON text (or nearly: some numbers and strings are not JSON) of any shape."""
    kind = draw(st.sampled_from(["number", "string", "raw", "const", "list", "object"]))
    if depth >= 3 or kind == "number":
        return draw(st.sampled_from(NUMBERS)).encode()
    if kind == "string":
        return draw(st.sampled_from(STRINGS)).encode()
    if kind == "raw":
        return draw(st.sampled_from(RAW_STRINGS))
    if kind == "const":
        return draw(st.sampled_from([b"true", b"false", b"null"]))
    if kind == "list":
        items = draw(st.lists(value(depth + 1), max_size=3))
        return b"[" + b",".join(items) + b"]"
    return draw(obj(depth + 1))


@st.composite
def obj(draw: st.DrawFn, depth: int = 0) -> bytes:
    keys = draw(st.lists(FIELDS, max_size=4))  # dotted keys, repeated keys too
    pairs = [orjson.dumps(k) + b":" + draw(value(depth)) for k in keys]
    return b"{" + b",".join(pairs) + b"}"


def seen(doc: Any, fields: list[str]) -> list[Any]:
    """What the engine's readers see of `doc`: each field's raw value, typed exactly."""
    return [typed(raw_reader(f)(doc)) for f in [*fields, *ENVELOPE]]


def typed(v: Any) -> Any:
    if isinstance(v, list):
        return ["list", *map(typed, v)]
    if isinstance(v, dict):
        return ["dict", *((k, typed(x)) for k, x in v.items())]
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    return (type(v).__name__, repr(v))


@settings(max_examples=500, deadline=None)
@given(fields=st.lists(FIELDS, min_size=1, max_size=4), line=obj())
def test_read_in_part_as_orjson_reads_it_whole_unless_guarded(
    fields: list[str], line: bytes
) -> None:
    decode = partial_decoder(fields)
    assert decode is not None
    try:
        whole = orjson.loads(line)
    except orjson.JSONDecodeError:
        whole = None
    try:
        part = decode(line)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        return  # `query` parses it whole
    guarded = re.search(UNSAFE_NUMBERS, line) is not None or not line.isascii()
    if guarded:
        return  # `query` parses it whole
    assert whole is not None  # msgspec takes only what orjson takes
    assert seen(part, fields) == seen(whole, fields)


def test_the_guard_is_needed() -> None:
    """Without it, these lines read differently in part (the property above would fail)."""
    decode = partial_decoder(["a"])
    assert decode is not None
    assert decode(b'{"a":18446744073709551616}') == {"a": 18446744073709551616}
    assert orjson.loads(b'{"a":18446744073709551616}') == {"a": 1.8446744073709552e19}
    assert decode(b'{"b":1e999,"a":1}') == {"a": 1}  # orjson refuses the line
    assert decode(b'{"b":"\xff","a":1}') == {"a": 1}  # so does it here
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(b'{"b":"\xff","a":1}')


def test_every_split_of_a_dotted_field_is_kept() -> None:
    decode = partial_decoder(["a.b.c"])
    assert decode is not None
    line = b'{"a":{"b.c":1,"x":0},"a.b":{"c":2},"a.b.c":3,"a.x":4,"id":5}'
    assert decode(line) == {"a": {"b.c": 1}, "a.b": {"c": 2}, "a.b.c": 3, "id": 5}


def test_a_field_and_its_parent_keep_the_parent_whole() -> None:
    decode = partial_decoder(["a", "a.b"])
    assert decode is not None
    assert decode(b'{"a":{"b":1,"c":2},"z":3}') == {"a": {"b": 1, "c": 2}}


def test_too_many_keys_means_no_partial_read() -> None:
    deep = ".".join("abcdefghijklmn")  # 2**13 ways to split it
    assert partial_decoder([deep]) is None
