"""Reading dotted ECS names from event sources, nested or flat.

Elasticsearch accepts `{"process": {"name": ...}}`, `{"process.name": ...}` and mixtures of
both, and `_source` returns whichever shape was indexed; every reader in the alert pipeline
goes through `get_field` so none of them cares which one it got.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

MISSING: Final[Any] = object()


def get_field(source: Mapping[str, Any], path: str, default: Any = None) -> Any:
    """The value at a dotted ECS path, trying the flat key first, then every nesting split."""
    value = source.get(path, MISSING)
    if value is not MISSING:
        return value
    start = 0
    while True:
        dot = path.find(".", start)
        if dot < 0:
            return default
        child = source.get(path[:dot], MISSING)
        if isinstance(child, Mapping):
            found = get_field(child, path[dot + 1 :], MISSING)
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
