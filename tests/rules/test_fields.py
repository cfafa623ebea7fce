from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from eqlwatch.notes import EventView
from eqlwatch.rules.fields import MISSING, get_field, pick

SEGMENTS = st.sampled_from(["a", "b", "c", "name", "ip"])


def reference(source: Any, path: str) -> Any:
    """Every way of splitting `path` into keys, tried in order: the meaning of a field."""
    if not isinstance(source, dict):
        return MISSING
    if path in source:
        return source[path]
    parts = path.split(".")
    for i in range(1, len(parts)):
        found = reference(source.get(".".join(parts[:i])), ".".join(parts[i:]))
        if found is not MISSING:
            return found
    return MISSING


def _partly_flatten(tree: dict[str, Any], draw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value and draw(st.booleans()):
            for sub, leaf in _partly_flatten(value, draw).items():
                out[f"{key}.{sub}"] = leaf
        elif isinstance(value, dict):
            out[key] = _partly_flatten(value, draw)
        else:
            out[key] = value
    return out


trees = st.recursive(
    st.integers(0, 9),
    lambda children: st.dictionaries(SEGMENTS, children, max_size=3),
    max_leaves=12,
)


@st.composite
def documents(draw: Any) -> dict[str, Any]:
    tree = draw(st.dictionaries(SEGMENTS, trees, max_size=4))
    return _partly_flatten(tree, draw)


@given(documents(), st.lists(SEGMENTS, min_size=1, max_size=4))
def test_get_field_agrees_with_reference(doc: dict[str, Any], parts: list[str]) -> None:
    path = ".".join(parts)
    expected = reference(doc, path)
    assert get_field(doc, path, MISSING) is expected or get_field(doc, path, MISSING) == expected


@given(documents(), st.lists(SEGMENTS, max_size=3), st.lists(SEGMENTS, min_size=1, max_size=3))
def test_pick_agrees_with_get_field(
    doc: dict[str, Any], prefix: list[str], keys: list[str]
) -> None:
    dotted = ".".join(prefix)
    picked = pick(doc, dotted, tuple(keys))
    for key in keys:
        path = f"{dotted}.{key}" if dotted else key
        assert picked[key] == get_field(doc, path)


def _flat_keys(doc: Any, prefix: str = "") -> list[str]:
    if not isinstance(doc, dict):
        return [prefix]
    keys = [prefix] if prefix else []
    for key, value in doc.items():
        keys += _flat_keys(value, f"{prefix}.{key}" if prefix else key)
    return keys


@given(documents(), st.lists(SEGMENTS, min_size=1, max_size=4))
def test_event_view_sees_values_and_subtrees(doc: dict[str, Any], parts: list[str]) -> None:
    path = ".".join(parts)
    below = any(k.startswith(path + ".") for k in _flat_keys(doc))
    assert (path in EventView(doc)) == (reference(doc, path) is not MISSING or below)
