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


def _strings(value: Mapping[str, Any], path: str, out: list[tuple[str, str]]) -> None:
    """Append every (dotted path, string value) under a mapping, in document order.

    Recursion into a list is cheap enough; this runs for every event of every alert.
    """
    for key, child in value.items():
        where = f"{path}.{key}" if path else str(key)
        kind = type(child)
        if kind is str:
            out.append((where, child))
        elif kind is dict:
            _strings(child, where, out)
        elif kind is list or kind is tuple:
            _list_strings(child, where, out)
        elif kind not in _SCALARS and isinstance(child, Mapping):
            _strings(child, where, out)


def _list_strings(values: Sequence[Any], path: str, out: list[tuple[str, str]]) -> None:
    for child in values:
        kind = type(child)
        if kind is str:
            out.append((path, child))
        elif kind is dict:
            _strings(child, path, out)
        elif kind is list or kind is tuple:
            _list_strings(child, path, out)
        elif kind not in _SCALARS and isinstance(child, Mapping):
            _strings(child, path, out)


@dataclass(frozen=True, slots=True)
class Enrichment:
    """Every distinct IP of one hit, in order of first appearance, classified."""

    ips: tuple[IpInfo, ...]
    table: str | None = None

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
        self._fields: dict[str, str] = {}

    def enrich(self, sources: Sequence[Mapping[str, Any]]) -> Enrichment:
        """Walk each event `_source` of one hit; missing-event slots are simply empty."""
        found: list[tuple[str, str]] = []
        for source in sources:
            _strings(source, "", found)
        seen: dict[str, tuple[IpInfo, dict[str, None]]] = {}
        lookup, verdicts, shape = self.table.lookup, self._fields, _SHAPE.match
        for path, text in found:
            verdict = verdicts.get(path) or self._verdict(path)
            if verdict is _SKIP:
                continue
            if verdict is _GENERIC and (
                shape(text) is None or ("." not in text and ":" not in text)
            ):
                continue
            info = lookup(text)
            if info is None:
                continue
            entry = seen.get(info.ip)
            if entry is None:
                seen[info.ip] = (info, {path: None})
            else:
                entry[1][path] = None
        ips = tuple(_with_fields(info, tuple(paths)) for info, paths in seen.values())
        return Enrichment(ips=ips, table=self.table.version)

    def _verdict(self, path: str) -> str:
        """How a field's strings are treated (named IP field, generic, skipped); cached."""
        verdict = _field_verdict(path)
        if len(self._fields) < _FIELD_CACHE_MAX:
            self._fields[path] = verdict
        return verdict


_NAMED, _GENERIC, _SKIP = "named", "generic", "skip"
_FIELD_CACHE_MAX = 1 << 14


def _field_verdict(path: str) -> str:
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
