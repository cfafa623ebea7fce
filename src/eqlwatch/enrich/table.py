"""Classifying one IP address against the versioned IANA table plus user ranges.

`ipaddress` is used only to parse; what an address *is* comes from the rows in
`data/iana.toml`, because `ipaddress`'s flags lag the registries and differ between Python
patch releases (see docs/enrichment.md). Lookups are a bisect over precomputed integer
intervals, where each interval already knows its most specific block, and results are
cached per input string: this sits on the hot path of every alert.

Categories (stable snake_case): public, private, loopback, link_local, cgnat, documentation,
multicast, unspecified, broadcast, benchmarking, reserved, this_network, protocol_assignment,
translation, discard, dummy, anycast, orchid, drone_id, unique_local, site_local, 6to4,
teredo, amt, as112, srv6, ipv4_mapped. `public` means "in no row at all": globally
reachable unicast outside every special block.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import struct
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, NamedTuple, TypeVar

from eqlwatch.enrich.info import Facts, IpInfo, Tail, ip_info
from eqlwatch.enrich.rows import Row, TableData, UserRange, load_iana_rows, load_user_ranges

T = TypeVar("T")
CATEGORIES: tuple[str, ...] = (
    "public", "private", "loopback", "link_local", "cgnat", "documentation", "multicast",
    "unspecified", "broadcast", "benchmarking", "reserved", "this_network",
    "protocol_assignment", "translation", "discard", "dummy", "anycast", "orchid", "drone_id",
    "unique_local", "site_local", "6to4", "teredo", "amt", "as112", "srv6", "ipv4_mapped",
)  # fmt: skip
_CACHE_MAX = 1 << 16
_MISS = object()
# ES compares IPv4 values against IPv6 CIDRs in their ::ffff:a.b.c.d form, so an emitted
# IPv6 block must never cover that range, or it would swallow every IPv4 address.
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
# The canonical spelling of each IPv4 octet (ASCII digits, no leading zero, at most 255):
# a dotted quad made of four of these is exactly what `str(IPv4Address)` writes back.
_OCTETS: dict[str, int] = {str(n): n for n in range(256)}


class _Intervals(Generic[T]):
    """Disjoint integer intervals, each carrying the value of the ranges that cover it."""

    __slots__ = ("starts", "values")

    def __init__(self, starts: list[int], values: list[T]) -> None:
        self.starts = starts
        self.values = values

    def at(self, value: int) -> T:
        return self.values[bisect_right(self.starts, value) - 1]


class _Span(NamedTuple):
    """One CIDR block as an integer range, with the row or user range it comes from."""

    first: int
    last: int
    item: Any


def _flatten(spans: Sequence[_Span], pick: Callable[[list[Any]], object]) -> _Intervals[object]:
    """Sweep nested-or-disjoint CIDR spans into elementary intervals (laminar, so a stack)."""
    starts: list[int] = [0]
    values: list[object] = [pick([])]
    stack: list[_Span] = []

    def mark(pos: int) -> None:
        value = pick([s.item for s in stack])
        if starts[-1] == pos:
            values[-1] = value
        else:
            starts.append(pos)
            values.append(value)

    ordered = sorted(enumerate(spans), key=lambda p: (p[1].first, p[1].first - p[1].last, -p[0]))
    for _, span in ordered:
        while stack and stack[-1].last < span.first:
            mark(stack.pop().last + 1)
        stack.append(span)
        mark(span.first)
    while stack:
        mark(stack.pop().last + 1)
    return _Intervals(starts, values)


def _most_specific(rows: list[Row]) -> Row | None:
    return rows[-1] if rows else None


def _labels(ranges: list[UserRange]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(r.label for r in reversed(ranges)))


def _merged(rows: _Intervals[object], users: _Intervals[object]) -> tuple[list[int], list[Tail]]:
    """One interval list whose values are whole tails: a lookup is then a single bisect."""
    starts = sorted(set(rows.starts) | set(users.starts))
    return starts, [_tail_of(rows.at(start), users.at(start)) for start in starts]


def _tail_of(row: object, labels: object) -> Tail:
    assert row is None or isinstance(row, Row)
    assert isinstance(labels, tuple)
    if row is None:
        return "public", None, None, None, True, True, labels
    return row.category, row.block, row.name, row.rfc, row.globally_reachable, False, labels


def canonical_ipv4(text: str) -> int | None:
    """The integer of a canonical dotted quad ("10.0.0.5"), else None (not an error).

    Accepts only what `ipaddress` accepts and spells the same way back, so callers may use
    `text` itself as the address's string form; everything else goes to `parse_ip`.
    """
    parts = text.split(".")
    if len(parts) != 4:
        return None
    octet = _OCTETS.get
    a, b, c, d = octet(parts[0]), octet(parts[1]), octet(parts[2]), octet(parts[3])
    if a is None or b is None or c is None or d is None:
        return None
    return a << 24 | b << 16 | c << 8 | d


_HEX_COLON = re.compile(r"[0-9A-Fa-f:]{2,39}")


def plain_ipv6(text: str) -> tuple[int, str] | None:
    """(integer, `str(IPv6Address)` form) of a hex-and-colons IPv6 address, else None.

    Only plain forms (no embedded IPv4, no zone, not IPv4-mapped) are handled here, each
    checked as `ipaddress` checks it; anything else is left to `parse_ip` (None is not
    an error). `ipaddress` spends ~5 µs on parse + format + int, this ~2.7 µs.
    """
    if _HEX_COLON.fullmatch(text) is None:
        return None
    head, gap, tail = text.partition("::")
    if gap:
        left = head.split(":") if head else []
        right = tail.split(":") if tail else []
        missing = 8 - len(left) - len(right)
        if "::" in tail or missing < 1:
            return None
        hextets = left + ["0"] * missing + right
    else:
        hextets = text.split(":")
        if len(hextets) != 8:
            return None
    if "" in hextets or max(map(len, hextets)) > 4:
        return None
    groups = tuple(map(int, hextets, _SIXTEEN))
    value = int.from_bytes(_PACK_GROUPS(*groups), "big")
    if value >> 32 == 0xFFFF:
        return None  # IPv4-mapped: reported as IPv4, by parse_ip
    return value, _compressed(_GROUPS_TEXT % groups)


_SIXTEEN = (16,) * 8
_PACK_GROUPS = struct.Struct(">8H").pack
_GROUPS_TEXT = ":".join(["%x"] * 8)
_ZERO_RUNS = tuple(":" + "0:" * length for length in range(8, 1, -1))  # longest first


def _compressed(full: str) -> str:
    """RFC 5952 text from 8 lower-case hex groups: the first longest run of 2+ zero
    groups becomes `::` (ipaddress's choice). Colons around the text make every group,
    first and last included, read `:g:`, so `find` sees whole groups only."""
    framed = f":{full}:"
    if ":0:0:" not in framed:
        return full
    for run in _ZERO_RUNS:
        at = framed.find(run)
        if at >= 0:
            return f"{framed[1:at]}::{framed[at + len(run) : -1]}"
    return full


def parse_ip(text: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """Parse an address: zone ids dropped, IPv4-mapped IPv6 unwrapped to IPv4. Any value is
    accepted: a non-string is a ValueError, as a malformed string is (in both builds)."""
    if not isinstance(text, str):
        raise ValueError(f"not an IP address: {text!r}")
    value = text.strip()
    if ":" in value and "%" in value:
        value = value.split("%", 1)[0]
    try:
        # What ip_address() does, without first failing as IPv4: only IPv6 has colons.
        if ":" not in value:
            return ipaddress.IPv4Address(value)
        addr = ipaddress.IPv6Address(value)
    except ValueError:
        raise ValueError(f"not an IP address: {text!r}") from None
    return addr if addr.ipv4_mapped is None else addr.ipv4_mapped


class IpTable:
    """The IANA rows (and optional user ranges) as a fast, cached classifier."""

    def __init__(self, data: TableData, user_ranges: Sequence[UserRange] = ()) -> None:
        self.version = data.version
        self.sources: tuple[Mapping[str, str], ...] = data.sources
        self.rows = data.rows
        self.user_ranges = tuple(user_ranges)
        self._rows = {v: self._index(v) for v in (4, 6)}
        users = {v: self._user_index(v) for v in (4, 6)}
        self._tails = {v: _merged(self._rows[v], users[v]) for v in (4, 6)}
        self._tails4 = self._tails[4]
        self._facts: dict[str, Facts | None] = {}
        self._cache: dict[str, IpInfo | None] = {}

    def _index(self, version: int) -> _Intervals[object]:
        spans = [_Span(r.first, r.last, r) for r in self.rows if r.version == version]
        return _flatten(spans, _most_specific)

    def _user_index(self, version: int) -> _Intervals[object]:
        spans = [_Span(u.first, u.last, u) for u in self.user_ranges if u.version == version]
        return _flatten(spans, _labels)

    def classify(self, ip: object) -> IpInfo:
        """Classify one address (cached). Raises ValueError, naming the value, on a non-IP
        (any value is accepted, so a number from an event is rejected, not a TypeError)."""
        info = self.lookup(ip)
        if info is None:
            raise ValueError(f"not an IP address: {ip!r}")
        return info

    def lookup(self, ip: object) -> IpInfo | None:
        """Like `classify`, but None for a non-IP (cheap for callers probing many values)."""
        if not isinstance(ip, str):  # callers probe arbitrary JSON values, not only strings
            return None
        try:
            return self._cache[ip]
        except KeyError:
            pass
        facts = self.facts(ip)
        info = None if facts is None else ip_info(facts, ())
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[ip] = info
        return info

    def facts(self, text: str) -> Facts | None:
        """`lookup` as a plain tuple, for callers that build their own IpInfo (cached)."""
        facts = self._facts.get(text, _MISS)
        if facts is not _MISS:
            return facts  # type: ignore[return-value]
        facts = self._classify(text)
        if len(self._facts) >= _CACHE_MAX:
            self._facts.clear()
        self._facts[text] = facts
        return facts

    def _classify(self, text: str) -> Facts | None:
        if (quad := canonical_ipv4(text)) is not None:
            starts, tails = self._tails4  # the common case, inlined
            return text, 4, tails[bisect_right(starts, quad) - 1]
        if ":" in text and (six := plain_ipv6(text)) is not None:
            return six[1], 6, self._tail(6, six[0])
        try:
            addr = parse_ip(text)
        except ValueError:
            return None
        return str(addr), addr.version, self._tail(addr.version, int(addr))

    def _tail(self, version: int, value: int) -> Tail:
        starts, tails = self._tails[version]
        return tails[bisect_right(starts, value) - 1]

    def row_for(self, ip: str) -> Row | None:
        """The most specific IANA row containing `ip`, or None when it is public."""
        addr = parse_ip(ip)
        row = self._rows[addr.version].at(int(addr))
        assert row is None or isinstance(row, Row)
        return row

    def non_public_cidrs(self, version: int | None = None) -> list[str]:
        """Every block that is not public, collapsed, IPv4 first; the rules' exclusion list.

        IPv6 blocks are emitted without the IPv4-mapped range (those values are IPv4).
        """
        if version not in (None, 4, 6):
            raise ValueError(f"version must be 4, 6 or None, got {version!r}")
        out: list[str] = []
        for v in (4, 6):
            if version in (None, v):
                out.extend(str(n) for n in self._collapsed(v))
        return out

    def _collapsed(self, version: int) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        if version == 4:
            v4 = [ipaddress.IPv4Network(r.block) for r in self.rows if r.version == 4]
            return list(ipaddress.collapse_addresses(v4))
        pieces: list[ipaddress.IPv6Network] = []
        for r in self.rows:
            if r.version != 6 or r.block == str(_MAPPED):
                continue
            net = ipaddress.IPv6Network(r.block)
            pieces.extend(net.address_exclude(_MAPPED) if _MAPPED.subnet_of(net) else [net])
        return list(ipaddress.collapse_addresses(pieces))


def load_ip_table(user_ranges: Path | None = None) -> IpTable:
    """The packaged IANA table, plus the operator's ranges file when given."""
    users = load_user_ranges(user_ranges) if user_ranges is not None else ()
    return IpTable(load_iana_rows(), users)


def non_public_cidr_match(
    field: str, version: int | None = None, *, table: IpTable | None = None
) -> str:
    """An EQL `cidrMatch(field, ...)` over the table's non-public blocks, for rule queries."""
    source = table if table is not None else _packaged_table()
    cidrs = ", ".join(f'"{c}"' for c in source.non_public_cidrs(version))
    return f"cidrMatch({field}, {cidrs})"


@functools.cache
def _packaged_table() -> IpTable:
    return IpTable(load_iana_rows())
