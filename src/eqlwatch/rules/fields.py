"""Reading dotted ECS names from event sources, nested or flat.

Elasticsearch accepts `{"process": {"name": ...}}`, `{"process.name": ...}` and mixtures of
both, and `_source` returns whichever shape was indexed; every reader in the alert pipeline
goes through `get_field` so none of them cares which one it got.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Final

MISSING: Final[Any] = object()


@lru_cache(maxsize=4096)
def _parts(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def pick(source: Mapping[str, Any], prefix: str, keys: tuple[str, ...]) -> dict[str, Any]:
    """`{key: value of "<prefix>.<key>"}` for each key (None when absent), in one walk."""
    node: Any = source
    for part in _parts(prefix) if prefix else ():
        if type(node) is not dict or has_dotted_key(node):
            break
        node = node.get(part)
        if node is None:  # no dotted key on the way: the whole subtree is absent
            return dict.fromkeys(keys)
    else:
        if type(node) is dict and not has_dotted_key(node):
            return {key: node.get(key) for key in keys}
    dotted = f"{prefix}." if prefix else ""
    return {key: get_field(source, dotted + key) for key in keys}


def has_dotted_key(node: Mapping[Any, Any]) -> bool:
    """Whether a mapping has a flat dotted key such as `"process.name"` (cheap, C-level)."""
    try:
        return "." in "".join(node)
    except TypeError:  # a non-string key: let the general path decide
        return True


def get_field(source: Mapping[str, Any], path: str, default: Any = None) -> Any:
    """The value at a dotted ECS path, nested, flat (`"a.b"` keys) or mixed.

    Hot path of every alert: plain nested dicts are walked directly, and a miss is final
    when no dict on the way has a dotted key; anything else takes the general path.
    """
    node: Any = source
    for part in _parts(path):
        if type(node) is not dict:
            return _get_slow(source, path, default)
        parent = node
        node = node.get(part, MISSING)
        if node is MISSING:
            if parent is source:
                return _get_slow(source, path, default) if has_dotted_key(source) else default
            return _miss(source, path, default)
    return node


def _miss(source: Mapping[str, Any], path: str, default: Any) -> Any:
    """A miss below the root: final unless a dict on the way has a dotted key."""
    return _get_slow(source, path, default) if dotted_on_path(source, path) else default


def dotted_on_path(source: Mapping[str, Any], path: str) -> bool:
    """Whether a mapping met walking `path` has a dotted key (or is not a plain dict).

    When False, plain nested lookup is the whole truth about `path` and everything below.
    """
    node: Any = source
    for part in _parts(path):
        if type(node) is not dict:
            return isinstance(node, Mapping)
        if has_dotted_key(node):
            return True
        node = node.get(part)
    return isinstance(node, Mapping) and (type(node) is not dict or has_dotted_key(node))


def _get_slow(source: Mapping[str, Any], path: str, default: Any) -> Any:
    value = source.get(path, MISSING)
    if value is not MISSING:
        return value
    start = 0
    while True:
        dot = path.find(".", start)
        if dot < 0:
            return default
        child = source.get(path[:dot], MISSING)
        if type(child) is dict or isinstance(child, Mapping):
            found = _get_slow(child, path[dot + 1 :], MISSING)
            if found is not MISSING:
                return found
        start = dot + 1


def iter_values(value: Any) -> list[Any]:
    """A field value as a flat list (ECS fields may hold one value or an array)."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [v for v in value if v is not None]
    return [value]
