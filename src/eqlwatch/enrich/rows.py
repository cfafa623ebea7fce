"""Reading the address rows: the packaged IANA table and an operator's user-range file.

Both files are TOML. Rows become plain frozen values with their CIDR as an integer range,
so the lookup structure in `table.py` never parses text again. Problems in a user file
raise `ConfigError` naming the file and the field (e.g. `range[2].cidr`).
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from eqlwatch.errors import ConfigError, Location

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_LABEL = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_FLAGS = ("source", "destination", "forwardable", "globally_reachable", "reserved_by_protocol")


@dataclass(frozen=True, slots=True)
class Row:
    """One registry block: where it comes from and what IANA says about it."""

    block: str
    version: int
    first: int
    last: int
    prefixlen: int
    category: str
    name: str
    rfc: str
    registry: str
    allocated: str | None = None
    terminated: str | None = None
    source: bool | None = None
    destination: bool | None = None
    forwardable: bool | None = None
    globally_reachable: bool | None = None
    reserved_by_protocol: bool | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class UserRange:
    """An operator's own range (corporate, VPN, scanners...), matched on top of IANA's."""

    cidr: str
    version: int
    first: int
    last: int
    prefixlen: int
    label: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class TableData:
    """The packaged table: its version, the registries it was built from, and its rows."""

    version: str
    sources: tuple[Mapping[str, str], ...]
    rows: tuple[Row, ...]


def network_bounds(net: Network) -> tuple[int, int, int, int]:
    """(ip version, first, last, prefix length) of a network as integers."""
    first = int(net.network_address)
    return net.version, first, first + net.num_addresses - 1, net.prefixlen


def load_iana_rows(text: str | None = None) -> TableData:
    """Parse the packaged `data/iana.toml` (or `text`, for tests) into rows."""
    if text is None:
        text = resources.files("eqlwatch.enrich").joinpath("data/iana.toml").read_text("utf-8")
    doc = tomllib.loads(text)
    rows = tuple(_iana_row(raw) for raw in doc["row"])
    sources = tuple({k: str(v) for k, v in reg.items()} for reg in doc["registry"])
    known = {s["id"] for s in sources}
    unknown = sorted({r.registry for r in rows} - known)
    if unknown:
        raise ValueError(f"iana.toml rows cite unknown registries: {unknown}")
    return TableData(version=str(doc["version"]), sources=sources, rows=rows)


def _iana_row(raw: Mapping[str, Any]) -> Row:
    net = ipaddress.ip_network(raw["block"])
    version, first, last, prefixlen = network_bounds(net)
    flags = {k: raw[k] for k in _FLAGS if k in raw}
    return Row(
        block=str(net),
        version=version,
        first=first,
        last=last,
        prefixlen=prefixlen,
        category=str(raw["category"]),
        name=str(raw["name"]),
        rfc=str(raw["rfc"]),
        registry=str(raw["registry"]),
        allocated=raw.get("allocated"),
        terminated=raw.get("terminated"),
        note=raw.get("note"),
        **flags,
    )


def load_user_ranges(path: Path) -> tuple[UserRange, ...]:
    """Read `[[range]]` tables (cidr, label, description) from an operator's TOML file."""
    try:
        doc = tomllib.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read user ranges: {exc}", location=_at(path)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", location=_at(path)) from exc
    extra = sorted(set(doc) - {"range"})
    if extra:
        raise ConfigError(
            f"unknown top-level key {extra[0]!r}; expected [[range]] tables",
            location=_at(path, extra[0]),
        )
    raw_ranges = doc.get("range", [])
    if not isinstance(raw_ranges, list):
        raise ConfigError("`range` must be an array of tables", location=_at(path, "range"))
    return tuple(_user_range(path, i, raw) for i, raw in enumerate(raw_ranges))


def _at(path: Path, field: str | None = None) -> Location:
    return Location(file=str(path), field=field)


def _user_range(path: Path, index: int, raw: Any) -> UserRange:
    where = f"range[{index}]"

    def fail(key: str | None, message: str) -> ConfigError:
        return ConfigError(message, location=_at(path, f"{where}.{key}" if key else where))

    if not isinstance(raw, dict):
        raise fail(None, "each range must be a table")
    extra = sorted(set(raw) - {"cidr", "label", "description"})
    if extra:
        raise fail(extra[0], f"unknown key {extra[0]!r} (expected cidr, label, description)")
    cidr, label = raw.get("cidr"), raw.get("label")
    description = raw.get("description", "")
    if not isinstance(cidr, str):
        raise fail("cidr", "cidr is required and must be a string")
    try:
        net = ipaddress.ip_network(cidr.strip(), strict=True)
    except ValueError as exc:
        raise fail("cidr", f"invalid CIDR {cidr!r}: {exc}") from exc
    if not isinstance(label, str) or not _LABEL.match(label):
        raise fail("label", f"label must be lower-case letters, digits, '_', '-', '.': {label!r}")
    if not isinstance(description, str):
        raise fail("description", "description must be a string")
    version, first, last, prefixlen = network_bounds(net)
    return UserRange(str(net), version, first, last, prefixlen, label, description)
