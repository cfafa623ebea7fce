"""Where the IANA table and Python's `ipaddress` agree, and every place they do not.

`ipaddress`'s flags are hand-kept lists that lag the registries and change between patch
releases (see docs/enrichment.md), which is why eqlwatch classifies from its own table.
This test pins the agreement and names each known difference with its reason; a new,
unexplained difference fails it.
"""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.enrich import IpTable, load_ip_table

TABLE: IpTable = load_ip_table()

# block -> (the table's globally_reachable, why ipaddress disagrees). These differ on
# CPython main as well as on older releases.
DIFFERS: dict[str, tuple[bool | None, str]] = {
    "224.0.0.0/4": (None, "multicast is in no special-purpose registry; is_global says True"),
    "ff00::/8": (None, "multicast is in no special-purpose registry; is_global says True"),
    "192.88.99.0/24": (None, "deprecated 6to4 relay row has empty flags; is_global says True"),
    "192.88.99.2/32": (False, "6a44 relay is not globally reachable; ipaddress omits it"),
    "100:0:0:1::/64": (False, "dummy prefix (RFC9780, 2025) is newer than ipaddress's list"),
    "5f00::/16": (False, "SRv6 SIDs (RFC9602, 2024) are missing from ipaddress's list"),
    "2001:1::3/128": (True, "DNS-SD SRP anycast (RFC9665, 2024) is globally reachable"),
    "fec0::/10": (None, "deprecated site-local; ipaddress flags is_site_local, not private"),
    "2001::/32": (None, "TEREDO is N/A in the registry; ipaddress decides by patch level"),
    "2002::/16": (None, "6to4 is N/A in the registry; ipaddress decides by patch level"),
    "2001:10::/28": (None, "terminated ORCHID row has empty flags; ipaddress says private"),
}
# Fixed in CPython during 2024 (gh-113171 / CVE-2024-4032, gh-124217): whether the running
# interpreter agrees depends on its patch release and distribution backports.
PATCH_DEPENDENT: dict[str, tuple[bool | None, str]] = {
    "192.0.0.0/24": (False, "IETF protocol assignments: private only after gh-113171"),
    "192.0.0.8/32": (False, "IPv4 dummy address: private only after gh-113171"),
    "192.0.0.9/32": (True, "PCP anycast: global exception added by gh-113171"),
    "192.0.0.10/32": (True, "TURN anycast: global exception added by gh-113171"),
    "64:ff9b:1::/48": (False, "local-use NAT64: private only after gh-113171"),
    "2001:1::1/128": (True, "PCP anycast: global exception added by gh-113171"),
    "2001:1::2/128": (True, "TURN anycast: global exception added by gh-113171"),
    "2001:3::/32": (True, "AMT: global exception added by gh-113171"),
    "2001:4:112::/48": (True, "AS112-v6: global exception added by gh-113171"),
    "2001:20::/28": (True, "ORCHIDv2: global exception added by gh-113171"),
    "2001:30::/28": (True, "DETs: global exception added by gh-113171"),
    "3fff::/20": (False, "documentation (RFC9637): private only after gh-124217"),
}
KNOWN = {**DIFFERS, **PATCH_DEPENDENT}
_RESERVED_V6 = "IPv6 space IANA keeps 'Reserved by IETF': ipaddress's is_global says True"


def _probes(block: str) -> list[str]:
    net = ipaddress.ip_network(block)
    picks = {int(net.network_address), int(net.broadcast_address)}
    picks.add(int(net.network_address) + net.num_addresses // 2)
    return [str(ipaddress.ip_address(p) if net.version == 6 else ipaddress.IPv4Address(p))
            for p in sorted(picks)]  # fmt: skip


def _reserved_block(block: str) -> bool:
    return any(r.block == block and r.category == "reserved" and r.version == 6
               for r in TABLE.rows)  # fmt: skip


def _documented(ip: str) -> str | None:
    row = TABLE.row_for(ip)
    if row is None:
        return None
    if row.block in KNOWN:
        return KNOWN[row.block][1]
    if _reserved_block(row.block):
        return _RESERVED_V6
    return None


def _ours(ip: str) -> bool:
    return TABLE.classify(ip).globally_reachable is True


@pytest.mark.parametrize("row", TABLE.rows, ids=lambda r: r.block)
def test_each_row_agrees_with_is_global_or_is_documented(row: object) -> None:
    block = row.block  # type: ignore[attr-defined]
    for ip in _probes(block):
        if TABLE.row_for(ip) is not row or block == "::ffff:0:0/96":
            continue  # a more specific row decides this probe; it is tested there
        reason = _documented(ip)
        if reason is None:
            assert _ours(ip) == ipaddress.ip_address(ip).is_global, ip
        elif block in KNOWN:
            assert TABLE.classify(ip).globally_reachable is KNOWN[block][0], (ip, reason)


@settings(max_examples=500)
@given(st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)))
def test_random_addresses_agree_unless_documented(addr: object) -> None:
    ip = str(addr)
    parsed = ipaddress.ip_address(ip)
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return  # classified as IPv4; ipaddress's own handling varies by patch release
    if _documented(ip) is None:
        assert _ours(ip) == parsed.is_global


@pytest.mark.parametrize(
    ("flag", "category"),
    [("is_loopback", "loopback"), ("is_multicast", "multicast"),
     ("is_link_local", "link_local"), ("is_unspecified", "unspecified")],
)  # fmt: skip
def test_simple_flags_match_categories(flag: str, category: str) -> None:
    for row in TABLE.rows:
        if row.block == "::ffff:0:0/96":
            continue
        for ip in _probes(row.block):
            if TABLE.row_for(ip) is row:
                expected = getattr(ipaddress.ip_address(ip), flag)
                assert (row.category == category) == expected, (ip, row.block)


def test_documented_differences_are_real_rows() -> None:
    blocks = {r.block for r in TABLE.rows}
    assert set(KNOWN) <= blocks
    assert not set(DIFFERS) & set(PATCH_DEPENDENT)
