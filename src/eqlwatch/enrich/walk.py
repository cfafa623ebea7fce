"""Finding every IP in the events of a hit, and the enrichment an alert carries.

Which values count as IPs (the rule, also in docs/enrichment.md):
- every string under a field whose last name part says "IP": `ip`, `ips`, `*_ip`, `*_ips`,
  a camel-case `...Ip`/`...IP`/`...Ips` (Sysmon's `DestinationIp`), `IpAddress`, or ending
  in `address` (`source.address`, `client.address`); values that do not parse are ignored
  (`source.address` may be a host name, Windows writes `-`);
- every other string value that *is* an address as a whole (after a cheap shape check),
  except under fields whose name contains `version` (a file version such as `1.0.0.0`
  parses as IPv4). An IP inside a longer text (a command line) is not extracted.
Paths are dotted ECS paths: nested objects and dotted keys give the same path, list
elements share their field's path.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eqlwatch.enrich.table import IpInfo, IpTable

_SHAPE = re.compile(r"^[0-9A-Fa-f:.]{2,45}(%[0-9A-Za-z_.\-]{1,32})?$")
_CAMEL_IP = re.compile(r"(?:^|[a-z0-9])(?:Ip|IP)s?(?:Address)?$")


def is_ip_field(path: str) -> bool:
    """Whether a field's name says it holds IP addresses (see the module docstring)."""
    leaf = path.rsplit(".", 1)[-1]
    low = leaf.lower()
    if low in ("ip", "ips") or low.endswith(("_ip", "_ips", "address", "_addr")):
        return True
    return _CAMEL_IP.search(leaf) is not None


_SCALARS = frozenset({int, float, bool, type(None)})
_NAMED, _GENERIC, _SKIP = "named", "generic", "skip"
_FIELD_CACHE_MAX = 1 << 14


class _Field:
    """One dotted path met in events: its name, its verdict, and the fields below it.

    The walk looks children up by key instead of formatting "parent.key" strings, so a
    field's path and verdict are worked out once per Enricher, not once per event. `odd`
    lists the child keys seen so far that are dotted (`"process.name"`) or not strings.
    """

    __slots__ = ("children", "odd", "path", "verdict")

    def __init__(self, path: str, verdict: str) -> None:
        self.path = path
        self.verdict = verdict
        self.children: dict[Any, _Field] = {}
        self.odd: list[Any] = []


class _Walk:
    """Collects (field, string) pairs that could be IPs: `.` or `:` in the value.

    On the way it notes whether the event is plain: only dicts, no dotted or non-string
    key anywhere. For such an event, nested `dict.get` is exactly what `get_field` does.
    """

    __slots__ = ("found", "plain", "room")

    def __init__(self, room: list[int]) -> None:
        self.found: list[tuple[_Field, str]] = []
        self.room = room  # fields this Enricher may still cache (shared, bounded)
        self.plain = True

    def child(self, parent: _Field, key: Any) -> _Field:
        where = f"{parent.path}.{key}" if parent.path else str(key)
        node = _Field(where, _field_verdict(where))
        odd = type(key) is not str or "." in key
        if odd:
            self.plain = False
        if self.room[0] > 0 and type(key) is str:
            self.room[0] -= 1
            parent.children[key] = node
            if odd:
                parent.odd.append(key)
        return node

    def mapping(self, value: Mapping[Any, Any], field: _Field) -> None:
        kids, found = field.children, self.found
        if field.odd and self.plain and any(key in value for key in field.odd):
            self.plain = False
        for key, child in value.items():
            sub = kids.get(key) or self.child(field, key)
            kind = type(child)
            if kind is str:
                if ("." in child or ":" in child) and sub.verdict is not _SKIP:
                    found.append((sub, child))
            elif kind in _SCALARS:
                continue
            elif kind is dict:
                self.mapping(child, sub)
            elif kind is list or kind is tuple:
                self.sequence(child, sub)
            elif isinstance(child, Mapping):
                self.plain = False
                self.mapping(child, sub)

    def sequence(self, values: Sequence[Any], field: _Field) -> None:
        for child in values:
            kind = type(child)
            if kind is str:
                if field.verdict is not _SKIP and ("." in child or ":" in child):
                    self.found.append((field, child))
            elif kind is dict:
                self.mapping(child, field)
            elif kind is list or kind is tuple:
                self.sequence(child, field)
            elif kind not in _SCALARS and isinstance(child, Mapping):
                self.plain = False
                self.mapping(child, field)


@dataclass(frozen=True, slots=True)
class Enrichment:
    """Every distinct IP of one hit, in order of first appearance, classified."""

    ips: tuple[IpInfo, ...]
    table: str | None = None
    _document: dict[str, Any] | None = dataclasses.field(
        default=None, init=False, repr=False, compare=False
    )

    def document(self) -> dict[str, Any]:
        """`to_document()`, built once and shared by the note and the alert: read-only."""
        if self._document is None:
            object.__setattr__(self, "_document", self.to_document())
        assert self._document is not None
        return self._document

    def by_category(self) -> dict[str, list[str]]:
        """Addresses grouped by category, e.g. {"private": ["10.0.0.5"], "public": [...]}."""
        out: dict[str, list[str]] = {}
        for info in self.ips:
            out.setdefault(info.category, []).append(info.ip)
        return out

    def public_ips(self) -> list[str]:
        return [info.ip for info in self.ips if info.public]

    def to_document(self) -> dict[str, Any]:
        """The JSON-ready form stored in an alert under `eqlwatch.enrichment`."""
        return {
            "table": self.table,
            "ips": [_info_document(info) for info in self.ips],
            "categories": self.by_category(),
            "public_ips": self.public_ips(),
            "labels": sorted({label for info in self.ips for label in info.labels}),
        }


def _info_document(info: IpInfo) -> dict[str, Any]:
    return {
        "ip": info.ip,
        "version": info.version,
        "category": info.category,
        "block": info.block,
        "name": info.name,
        "rfc": info.rfc,
        "globally_reachable": info.globally_reachable,
        "public": info.public,
        "labels": list(info.labels),
        "fields": list(info.fields),
    }


class Enricher:
    """Classifies every IP found in the event sources of a hit against one table."""

    def __init__(self, table: IpTable) -> None:
        self.table = table
        self._root = _Field("", _GENERIC)
        self._room = [_FIELD_CACHE_MAX]

    def enrich(self, sources: Sequence[Mapping[str, Any]]) -> Enrichment:
        """Walk each event `_source` of one hit; missing-event slots are simply empty."""
        return self.scan(sources)[0]

    def scan(self, sources: Sequence[Mapping[str, Any]]) -> tuple[Enrichment, tuple[bool, ...]]:
        """`enrich`, plus for each source whether it is plain (see `hitfacts.HitFacts`).

        Only strings with a `.` or `:` are looked at: every IPv4 has a dot, every IPv6 a
        colon, so nothing an IP field or a bare address holds is skipped by that check.
        """
        walk = _Walk(self._room)
        flags: list[bool] = []
        for source in sources:
            walk.plain = type(source) is dict
            walk.mapping(source, self._root)
            flags.append(walk.plain)
        seen: dict[str, tuple[IpInfo, dict[str, None]]] = {}
        lookup, shape = self.table.lookup, _SHAPE.match
        for field, text in walk.found:
            if field.verdict is _GENERIC and shape(text) is None:
                continue
            info = lookup(text)
            if info is None:
                continue
            entry = seen.get(info.ip)
            if entry is None:
                seen[info.ip] = (info, {field.path: None})
            else:
                entry[1][field.path] = None
        ips = tuple(_with_fields(info, tuple(paths)) for info, paths in seen.values())
        return Enrichment(ips=ips, table=self.table.version), tuple(flags)


def _field_verdict(path: str) -> str:
    """How a field's strings are treated: a named IP field, any other field, or skipped."""
    if is_ip_field(path):
        return _NAMED
    if "version" in path.rsplit(".", 1)[-1].lower():
        return _SKIP
    return _GENERIC


def _with_fields(info: IpInfo, fields: tuple[str, ...]) -> IpInfo:
    return IpInfo(
        info.ip, info.version, info.category, info.block, info.name, info.rfc,
        info.globally_reachable, info.public, info.labels, fields,
    )  # fmt: skip
