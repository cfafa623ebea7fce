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

from eqlwatch.enrich.table import Facts, IpInfo, IpTable, ip_info

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
    """Collects the (field, string) pairs that may be IPs, in order.

    A string is kept when it has a `.` or `:` (every IPv4 has a dot, every IPv6 a colon)
    and its field is a named IP field, or a generic field and the string has an address's
    shape. On the way it notes whether the event is plain: only dicts, no dotted or
    non-string key anywhere. For such an event, nested `dict.get` is exactly what
    `get_field` does.
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
                    if verdict is _NAMED or (verdict is _GENERIC and _shape(child)):
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
                            verdict is _NAMED or (verdict is _GENERIC and _shape(item))
                        ):
                            self.found.append((sub, item))
                    elif type(item) not in _SCALARS:
                        self.sequence((item,), sub)
            elif isinstance(child, Mapping):
                self.plain = False
                self.mapping(child, sub)

    def sequence(self, values: Sequence[Any], field: _Field) -> None:
        verdict = field.verdict
        for child in values:
            kind = type(child)
            if kind is str:
                if ("." in child or ":" in child) and (
                    verdict is _NAMED or (verdict is _GENERIC and _shape(child))
                ):
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
        """The JSON-ready form stored in an alert under `eqlwatch.enrichment`.

        One pass builds what `by_category`, `public_ips` and the label set would.
        """
        rows: list[dict[str, Any]] = []
        categories: dict[str, list[str]] = {}
        public: list[str] = []
        labels: set[str] = set()
        for info in self.ips:
            ip, category = info.ip, info.category
            rows.append(_info_document(info))
            same = categories.get(category)
            if same is None:
                categories[category] = [ip]
            else:
                same.append(ip)
            if info.public:
                public.append(ip)
            if info.labels:
                labels.update(info.labels)
        return {
            "table": self.table,
            "ips": rows,
            "categories": categories,
            "public_ips": public,
            "labels": sorted(labels),
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
        """`enrich`, plus for each source whether it is plain (see `hitfacts.HitFacts`)."""
        walk = _Walk(self._room)
        flags: list[bool] = []
        for source in sources:
            walk.plain = type(source) is dict
            walk.mapping(source, self._root)
            flags.append(walk.plain)
        seen: dict[str, list[Any]] = {}  # ip -> [facts, path, path...]
        facts_of = self.table.facts
        for field, text in walk.found:
            facts = facts_of(text)
            if facts is None:
                continue
            entry = seen.get(facts[0])
            if entry is None:
                seen[facts[0]] = [facts, field.path]
            elif field.path not in entry:
                entry.append(field.path)
        ips = tuple([_info(entry) for entry in seen.values()])
        return _enrichment(ips, self.table.version), tuple(flags)


def _info(entry: list[Any]) -> IpInfo:
    facts: Facts = entry[0]
    return ip_info(facts, tuple(entry[1:]))


def _field_verdict(path: str) -> str:
    """How a field's strings are treated: a named IP field, any other field, or skipped."""
    if is_ip_field(path):
        return _NAMED
    if "version" in path.rsplit(".", 1)[-1].lower():
        return _SKIP
    return _GENERIC


_SET_IPS, _SET_TABLE, _SET_DOCUMENT = (
    getattr(Enrichment, name).__set__ for name in ("ips", "table", "_document")
)


def _enrichment(ips: tuple[IpInfo, ...], table: str | None) -> Enrichment:
    """`Enrichment(ips, table)` through its slots: the frozen __init__ costs twice as much."""
    made: Any = object.__new__(Enrichment)
    _SET_IPS(made, ips)
    _SET_TABLE(made, table)
    _SET_DOCUMENT(made, None)
    built: Enrichment = made
    return built
