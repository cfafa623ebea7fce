"""Events as templates see them: `ev["process.name"]` and `ev.process.name` both work.

Sources may be nested, flat (`{"process.name": ...}`) or mixed; `EventView` hides which.
It is read-only and exposes fields only (no Python internals), so it is safe in the sandbox.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from eqlwatch.hitfacts import parts_of
from eqlwatch.jsondump import dumps
from eqlwatch.rules.fields import MISSING, dotted_on_path, get_field


def _has_children(node: Mapping[str, Any], path: str) -> bool:
    """Whether some flat or mixed key lives below `path` (e.g. "process.parent.name")."""
    if not dotted_on_path(node, path):
        return False
    dotted = path + "."
    if any(k.startswith(dotted) for k in node):
        return True
    start = 0
    while (dot := path.find(".", start)) >= 0:
        child = node.get(path[:dot])
        if isinstance(child, Mapping) and _has_children(child, path[dot + 1 :]):
            return True
        start = dot + 1
    return False


_UNSEEN: Any = object()


def _walk(root: Mapping[str, Any], path: str) -> Any:
    """The node at `path` in a plain event (nested dicts), or MISSING."""
    node: Any = root
    for part in parts_of(path):
        if type(node) is not dict:
            return MISSING
        node = node.get(part, MISSING)
    return node


class EventView:
    """A read-only view of one event `_source` (or of one object inside it).

    `plain` says the event is nested dicts only, with no dotted key anywhere (the IP walk
    tells, see `hitfacts`): then a field is a walk down `dict.get`, and a miss is final.
    Otherwise every read goes through `get_field`, which merges flat and nested spellings.

    A plain view remembers what each path it walked led to (`_seen`, shared with the views
    below it): a note asks for the same fields many times (a pack note reads ~27 fields of
    ~12 paths). The event cannot change under it: views are made per render, and the
    sandbox lets no template change what it is given.
    """

    __slots__ = ("_plain", "_prefix", "_root", "_seen")

    def __init__(
        self,
        root: Mapping[str, Any],
        prefix: str = "",
        plain: bool = False,
        seen: dict[str, Any] | None = None,
    ) -> None:
        self._root = root
        self._prefix = prefix
        self._plain = plain
        self._seen = seen if seen is not None or not plain else {}

    def _full(self, key: str) -> str:
        return f"{self._prefix}.{key}" if self._prefix else key

    def _lookup(self, key: str) -> Any:
        full = f"{self._prefix}.{key}" if self._prefix else key
        if self._plain:
            seen: dict[str, Any] = self._seen  # type: ignore[assignment]  # set when plain
            node = seen.get(full, _UNSEEN)
            if node is _UNSEEN:
                node = seen[full] = _walk(self._root, full)
            if type(node) is dict:
                return EventView(self._root, full, True, seen)
            return node
        value = get_field(self._root, full, MISSING)
        if value is MISSING:
            return EventView(self._root, full) if _has_children(self._root, full) else MISSING
        if isinstance(value, Mapping):
            return EventView(self._root, full)
        return value

    def __getitem__(self, key: str) -> Any:
        value = self._lookup(key)
        if value is MISSING:
            raise KeyError(key)
        return value

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        value = self._lookup(name)
        if value is MISSING:
            raise AttributeError(name)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._lookup(key) is not MISSING

    def get(self, key: str, default: Any = None) -> Any:
        """The field's value, or `default` when the event does not have it."""
        value = self._lookup(key)
        return default if value is MISSING else value

    def __iter__(self) -> Iterator[str]:
        node = get_field(self._root, self._prefix) if self._prefix else self._root
        return iter(list(node) if isinstance(node, Mapping) else [])

    def __str__(self) -> str:
        node = get_field(self._root, self._prefix) if self._prefix else self._root
        return dumps(node, default=str).decode()

    def __repr__(self) -> str:
        return f"EventView({self._prefix or '<root>'})"


def field(event: Any, path: str, default: Any = None) -> Any:
    """Template helper: a dotted field of an event (view or plain dict), or `default`."""
    if type(event) is EventView:  # nearly every call: one step less than `event.get`
        value = event._lookup(path)
        return default if value is MISSING else value
    if isinstance(event, EventView):
        return event.get(path, default)
    if isinstance(event, Mapping):
        value = get_field(event, path, MISSING)
        return default if value is MISSING else value
    return default
