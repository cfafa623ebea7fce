"""The walk over a hit's events that collects the strings which may be IP addresses.

Which strings, and the paths they are reported under, are the rule in `walk.py`'s
docstring. This module is only the walk: one pass over every object of every event, so
the alert pipeline's hottest loop.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

# Possessive: neither part can give characters back to let `%` or the end match, so
# this accepts exactly what the plain greedy pattern does, without backtracking on
# near-misses such as timestamps ("2025-..." fails at the dash, once).
_SHAPE = re.compile(r"[0-9A-Fa-f:.]{2,45}+(?:%[0-9A-Za-z_.\-]{1,32}+)?$")
_shape = _SHAPE.match
_CAMEL_IP = re.compile(r"(?:^|[a-z0-9])(?:Ip|IP)s?(?:Address)?$")


def is_ip_field(path: str) -> bool:
    """Whether a field's name says it holds IP addresses (see the module docstring)."""
    leaf = path.rsplit(".", 1)[-1]
    low = leaf.lower()
    if low in ("ip", "ips") or low.endswith(("_ip", "_ips", "address", "_addr")):
        return True
    return _CAMEL_IP.search(leaf) is not None


_SCALARS = frozenset({int, float, bool, type(None)})
NAMED, GENERIC, SKIP = "named", "generic", "skip"
FIELD_CACHE_MAX = 1 << 14


class FieldNode:
    """One dotted path met in events: its name, its verdict, and the fields below it.

    The walk looks children up by key instead of formatting "parent.key" strings, so a
    field's path and verdict are worked out once per Enricher, not once per event. `odd`
    lists the child keys seen so far that are dotted (`"process.name"`) or not strings.
    """

    __slots__ = ("children", "odd", "path", "verdict")

    def __init__(self, path: str, verdict: str) -> None:
        self.path = path
        self.verdict = verdict
        self.children: dict[Any, FieldNode] = {}
        self.odd: list[Any] = []


class Walk:
    """Collects the (field, string) pairs that may be IPs, in order.

    A string is kept when it has a `.` or `:` (every IPv4 has a dot, every IPv6 a colon)
    and its field is a named IP field, or a generic field and the string has an address's
    shape. On the way it notes whether the event is plain: only dicts, no dotted or
    non-string key anywhere. For such an event, nested `dict.get` is exactly what
    `get_field` does.
    """

    __slots__ = ("found", "plain", "room")

    def __init__(self, room: list[int]) -> None:
        self.found: list[tuple[FieldNode, str]] = []
        self.room = room  # fields this Enricher may still cache (shared, bounded)
        self.plain = True

    def child(self, parent: FieldNode, key: Any) -> FieldNode:
        where = f"{parent.path}.{key}" if parent.path else str(key)
        node = FieldNode(where, field_verdict(where))
        odd = type(key) is not str or "." in key
        if odd:
            self.plain = False
        if self.room[0] > 0 and type(key) is str:
            self.room[0] -= 1
            parent.children[key] = node
            if odd:
                parent.odd.append(key)
        return node

    def mapping(self, value: Mapping[Any, Any], field: FieldNode) -> None:
        kids = field.children
        if field.odd and self.plain and any(key in value for key in field.odd):
            self.plain = False
        for key, child in value.items():
            try:
                sub = kids[key]
            except KeyError:  # first time under this field, or a key that is not cached
                sub = self.child(field, key)
            kind = type(child)
            if kind is str:
                if "." in child or ":" in child:
                    verdict = sub.verdict
                    if verdict is NAMED or (verdict is GENERIC and _shape(child)):
                        self.found.append((sub, child))
            elif kind is dict:
                self.mapping(child, sub)
            elif kind in _SCALARS:
                continue
            elif kind is list or kind is tuple:  # strings of a list checked here, inline
                verdict = sub.verdict
                for item in child:
                    if type(item) is str:
                        if ("." in item or ":" in item) and (
                            verdict is NAMED or (verdict is GENERIC and _shape(item))
                        ):
                            self.found.append((sub, item))
                    elif type(item) not in _SCALARS:
                        self.sequence((item,), sub)
            elif isinstance(child, Mapping):
                self.plain = False
                self.mapping(child, sub)

    def sequence(self, values: Sequence[Any], field: FieldNode) -> None:
        verdict = field.verdict
        for child in values:
            kind = type(child)
            if kind is str:
                if ("." in child or ":" in child) and (
                    verdict is NAMED or (verdict is GENERIC and _shape(child))
                ):
                    self.found.append((field, child))
            elif kind is dict:
                self.mapping(child, field)
            elif kind is list or kind is tuple:
                self.sequence(child, field)
            elif kind not in _SCALARS and isinstance(child, Mapping):
                self.plain = False
                self.mapping(child, field)


def field_verdict(path: str) -> str:
    """How a field's strings are treated: a named IP field, any other field, or skipped."""
    if is_ip_field(path):
        return NAMED
    if "version" in path.rsplit(".", 1)[-1].lower():
        return SKIP
    return GENERIC
