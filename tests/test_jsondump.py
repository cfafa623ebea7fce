"""`jsondump.dumps`: orjson's output, and still an answer where orjson gives up on depth."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch import jsondump
from eqlwatch.depth import room

OPTIONS = [0, orjson.OPT_SORT_KEYS, orjson.OPT_INDENT_2, orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS]

# JSON values as events hold them (floats aside: the two writers spell some differently,
# and a float never decides depth)
values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(value=values, option=st.sampled_from(OPTIONS))
def test_the_deep_writer_writes_what_orjson_writes(value: Any, option: int) -> None:
    assert jsondump._deep(value, option, None) == orjson.dumps(value, option=option)


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for level in range(depth):
        value = [value] if level % 2 else {"z": value, "a": level}
    return value


@pytest.mark.parametrize("depth", [300, 1010])
@pytest.mark.parametrize("option", OPTIONS)
def test_a_value_orjson_cannot_write_is_written(depth: int, option: int) -> None:
    value = nested(depth)
    with pytest.raises(TypeError):
        orjson.dumps(value, option=option)
    text = jsondump.dumps(value, option=option)
    with room():  # comparing the two recurses as deep as they nest
        assert orjson.loads(text) == value  # orjson reads what it could not write
    if option & orjson.OPT_SORT_KEYS:
        assert text.index(b'"a"') < text.index(b'"z"')


def test_other_errors_are_orjsons() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        jsondump.dumps({"x": object()})
    with pytest.raises(TypeError):
        jsondump.dumps(nested(300) | {"bad": "\ud800"})
