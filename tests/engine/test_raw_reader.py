"""`raw_reader` finds a field as the general dotted-and-nested lookup does, by whatever
path the source spells it, without searching the first key's object twice."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.engine.schema import _MISSING, FieldSchema, _flat, _lookup, make_reader, raw_reader

KEYS = st.sampled_from(["a", "b", "c", "a.b", "b.c", "a.b.c"])
leaves = st.one_of(st.none(), st.integers(0, 3), st.sampled_from(["x", "y"]))
sources = st.recursive(
    leaves,
    lambda inner: st.one_of(st.dictionaries(KEYS, inner, max_size=4), st.lists(inner, max_size=3)),
    max_leaves=12,
)


def general(source: dict[str, Any], name: str) -> Any:
    """The lookup as it was: the first key's object, the whole name, then every split."""
    parts = name.split(".")
    if len(parts) == 1:
        return source.get(name, _MISSING)
    first = source.get(parts[0], _MISSING)
    if type(first) is dict:
        found = _lookup(first, parts, 1)
        if found is not _MISSING:
            return found
    if name in source:
        return source[name]
    return _lookup(source, parts, 0)


@settings(max_examples=500, deadline=None)
@given(source=st.dictionaries(KEYS, sources, max_size=4), name=st.sampled_from(
    ["a", "a.b", "a.b.c", "b.c", "a.c", "c.a.b"]
))  # fmt: skip
def test_the_reader_equals_the_general_lookup(source: dict[str, Any], name: str) -> None:
    assert raw_reader(name)(source) == general(source, name)


def slow_value(source: dict[str, Any], name: str) -> Any:
    """What a field without a mapping reads as, by the general lookup: missing and null
    are None, lists are flattened without nulls ([] is None)."""
    v = raw_reader(name)(source)
    if v is _MISSING or v is None:
        return None
    return _flat(v) if type(v) is list else v


DEEP_KEYS = st.sampled_from(["a", "b", "c", "d", "a.b", "b.c", "c.d", "a.b.c", "b.c.d", "a.b.c.d"])
deep_sources = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.dictionaries(DEEP_KEYS, inner, max_size=4), st.lists(inner, max_size=3)
    ),
    max_leaves=14,
)
NAMES = st.sampled_from(["a.b", "a.b.c", "a.b.c.d", "b.c", "a.c", "c.d", "b.c.d"])


@settings(max_examples=1500, deadline=None)
@given(source=st.dictionaries(DEEP_KEYS, deep_sources, max_size=5), name=NAMES)
def test_the_fast_reader_equals_the_general_lookup(source: dict[str, Any], name: str) -> None:
    """Missing fields are answered without the general lookup only when no dotted key
    could spell them: fails when an absence is concluded past `{"a": {"b.c": 1}}`."""
    reader = make_reader(FieldSchema(), name, "@timestamp")
    assert reader(source) == slow_value(source, name)


@pytest.mark.parametrize(
    ("source", "name", "expected"),
    [
        ({"a": {"b": {}}, "a.b.c": 1}, "a.b.c", 1),
        ({"a": {"b.c": 2}}, "a.b.c", 2),
        ({"a": {"b": {"x": 0}, "b.c": 8}}, "a.b.c", 8),
        ({"a": {"b": {"c": None}, "b.c": 9}}, "a.b.c", 9),
        ({"a": {"b": None}, "a.b": {"c": 3}}, "a.b.c", 3),
        ({"a": None, "a.b.c": 4}, "a.b.c", 4),
        ({"a": {"b": {"c": {}}}, "a.b.c.d": 5}, "a.b.c.d", 5),
        ({"a": {"b": {"c.d": 6}}}, "a.b.c.d", 6),
        ({"a": {}, "a.b": 7}, "a.b", 7),
        ({"a": {"x": 1}}, "a.b.c", None),
        ({"a": {"b": {"x": 1}}}, "a.b.c.d", None),
    ],
)
def test_a_field_spelled_with_dots_is_found_past_a_missing_key(
    source: dict[str, Any], name: str, expected: Any
) -> None:
    assert make_reader(FieldSchema(), name, "@timestamp")(source) == expected
