"""Hypothesis properties of the table: one category each, longest prefix wins, and the
emitted exclusion list agrees with `public` for every address."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.enrich import IpTable, load_ip_table
from eqlwatch.enrich.table import canonical_ipv4, plain_ipv6

TABLE: IpTable = load_ip_table()
NETS = [ipaddress.ip_network(c) for c in TABLE.non_public_cidrs()]
ROWS = [(ipaddress.ip_network(r.block), r) for r in TABLE.rows]


def _near_row_edges() -> st.SearchStrategy[str]:
    """Addresses at and around row boundaries, where off-by-one errors live."""

    def edge(pick: tuple[int, int, int]) -> str:
        index, side, delta = pick
        net = ROWS[index % len(ROWS)][0]
        base = int(net.network_address) if side == 0 else int(net.broadcast_address)
        top = (1 << net.max_prefixlen) - 1
        value = min(max(base + delta, 0), top)
        cls = ipaddress.IPv4Address if net.version == 4 else ipaddress.IPv6Address
        return str(cls(value))

    return st.tuples(st.integers(0, 10**6), st.integers(0, 1), st.integers(-2, 2)).map(edge)


addresses = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    _near_row_edges(),
)


def _containing(ip: str) -> list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, object]]:
    addr = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return [(net, row) for net, row in ROWS if net.version == addr.version and addr in net]


@settings(max_examples=400)
@given(addresses)
def test_every_address_has_exactly_one_known_category(ip: str) -> None:
    info = TABLE.classify(ip)
    categories = {r.category for r in TABLE.rows} | {"public"}
    assert info.category in categories
    assert info.public == (info.category == "public")
    assert (info.block is None) == info.public


@settings(max_examples=400)
@given(addresses)
def test_longest_prefix_wins(ip: str) -> None:
    info = TABLE.classify(ip)
    containing = _containing(ip)
    if not containing:
        assert info.public
        return
    net, row = max(containing, key=lambda pair: pair[0].prefixlen)
    assert info.block == str(net)
    assert info.category == row.category  # type: ignore[attr-defined]


@settings(max_examples=400)
@given(addresses)
def test_public_iff_in_no_emitted_non_public_cidr(ip: str) -> None:
    addr = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped  # IPv4-mapped values are IPv4 (ES stores them so)
    listed = any(net.version == addr.version and addr in net for net in NETS)
    assert TABLE.classify(ip).public == (not listed)


def _quad_like() -> st.SearchStrategy[str]:
    """Dotted quads with leading zeros, big octets, spaces, non-ASCII digits, extra parts."""
    octet = st.one_of(
        st.integers(0, 255).map(str),
        st.integers(0, 999).map(lambda n: f"0{n}"),
        st.integers(256, 9999).map(str),
        st.sampled_from(["", " 1", "1 ", "\u0661", "+1", "0x1", "00"]),
    )
    return st.lists(octet, min_size=3, max_size=5).map(".".join)


@settings(max_examples=600)
@given(st.one_of(_quad_like(), st.ip_addresses(v=4).map(str)))
def test_fast_ipv4_path_agrees_with_ipaddress(text: str) -> None:
    """The dotted-quad shortcut accepts exactly what `ipaddress` does, with the same value."""
    try:
        expected: int | None = int(ipaddress.IPv4Address(text))
    except ValueError:
        expected = None
    fast = canonical_ipv4(text)
    assert fast is None or fast == expected
    if expected is not None and text == str(ipaddress.IPv4Address(text)):
        assert fast == expected  # every canonical spelling takes the fast path
    info = TABLE.lookup(text)
    assert (info is None) == (expected is None and not _parses(text))
    if info is not None:
        assert info.ip == str(ipaddress.ip_address(text.strip()))


def _parses(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip())
    except ValueError:
        return False
    return True


def _six_like() -> st.SearchStrategy[str]:
    """IPv6 spellings: canonical, exploded, upper-case, and broken colon/hex strings."""
    spelt = st.ip_addresses(v=6).flatmap(
        lambda a: st.sampled_from([str(a), a.exploded, a.exploded.upper(), str(a).upper()])
    )
    group = st.one_of(
        st.integers(0, 0xFFFF).map(lambda n: f"{n:x}"), st.sampled_from(["", "0000", "12345", "g"])
    )
    broken = st.lists(group, min_size=1, max_size=10).map(":".join)
    return st.one_of(spelt, broken, broken.map(lambda t: t.replace(":", "::", 1)))


@settings(max_examples=800)
@given(_six_like())
def test_fast_ipv6_path_agrees_with_ipaddress(text: str) -> None:
    """The hex-and-colons shortcut gives `ipaddress`'s value and text, or defers to it."""
    try:
        addr: ipaddress.IPv6Address | None = ipaddress.IPv6Address(text)
    except ValueError:
        addr = None
    fast = plain_ipv6(text)
    if fast is not None:
        assert addr is not None
        assert fast == (int(addr), str(addr))
    elif addr is not None and "." not in text:
        assert addr.ipv4_mapped is not None  # the only plain form it leaves to parse_ip
    info = TABLE.lookup(text)
    if addr is None:
        assert info is None
    else:
        assert info is not None
        assert info.ip == str(addr.ipv4_mapped or addr)
