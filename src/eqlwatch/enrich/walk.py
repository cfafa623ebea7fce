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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eqlwatch.enrich.info import Facts, IpInfo, ip_info
from eqlwatch.enrich.table import IpTable
from eqlwatch.enrich.walker import FIELD_CACHE_MAX, GENERIC, FieldNode, Walk


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
        self._root = FieldNode("", GENERIC)
        self._room = [FIELD_CACHE_MAX]

    def enrich(self, sources: Sequence[Mapping[str, Any]]) -> Enrichment:
        """Walk each event `_source` of one hit; missing-event slots are simply empty."""
        return self.scan(sources)[0]

    def scan(self, sources: Sequence[Mapping[str, Any]]) -> tuple[Enrichment, tuple[bool, ...]]:
        """`enrich`, plus for each source whether it is plain (see `hitfacts.HitFacts`)."""
        walk = Walk(self._room)
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
