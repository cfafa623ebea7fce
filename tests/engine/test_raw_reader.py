"""`raw_reader` finds a field as the general dotted-and-nested lookup does, by whatever
path the source spells it, without searching the first key's object twice."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.engine.schema import _MISSING, _lookup, raw_reader

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
