"""`query`'s answer written hit by hit is byte for byte one indented dump of the response."""

from __future__ import annotations

import io
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.cli import answer
from eqlwatch.cli.answer import write_answer

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
EVENT = st.fixed_dictionaries(
    {"_index": st.text(max_size=5), "_id": st.text(max_size=5), "_source": JSON}
)
SEQUENCE = st.fixed_dictionaries(
    {"join_keys": st.lists(JSON, max_size=2), "events": st.lists(EVENT, max_size=3)}
)


def _response(kind: str, items: list[Any]) -> dict[str, Any]:
    return {
        "is_partial": False,
        "is_running": False,
        "took": 3,
        "timed_out": False,
        "hits": {"total": {"value": len(items), "relation": "eq"}, kind: items},
    }


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.tuples(st.just("events"), st.lists(EVENT, max_size=5)),
        st.tuples(st.just("sequences"), st.lists(SEQUENCE, max_size=4)),
    ),
    st.integers(1, 3),
)
def test_written_hit_by_hit_as_dumped_whole(shape: tuple[str, list[Any]], batch: int) -> None:
    kind, items = shape
    response = _response(kind, items)
    out = io.BytesIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(answer, "_BATCH", batch)
        write_answer(out, response)
    assert out.getvalue() == orjson.dumps(response, option=orjson.OPT_INDENT_2) + b"\n"
    assert orjson.loads(out.getvalue()) == response


def test_a_source_with_newlines_in_its_strings_stays_one_valid_document() -> None:
    event = {"_index": "i", "_id": "1", "_source": {"message": "a\nb\r\n\tc", "n": [1, {}]}}
    response = _response("events", [event, event])
    out = io.BytesIO()
    write_answer(out, response)
    assert out.getvalue() == orjson.dumps(response, option=orjson.OPT_INDENT_2) + b"\n"
