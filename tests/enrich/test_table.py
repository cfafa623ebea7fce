"""The IANA table: spot checks of registry rows, parsing rules, and the exclusion list."""

from __future__ import annotations

import ipaddress

import pytest

from eqlwatch.enrich import IpTable, load_ip_table, non_public_cidr_match


@pytest.fixture(scope="module")
def table() -> IpTable:
    return load_ip_table()


@pytest.mark.parametrize(
    ("ip", "category", "block", "rfc"),
    [
        ("100.64.0.1", "cgnat", "100.64.0.0/10", "RFC6598"),
        ("192.0.2.44", "documentation", "192.0.2.0/24", "RFC5737"),
        ("2001:db8::1", "documentation", "2001:db8::/32", "RFC3849"),
        ("64:ff9b::808:808", "translation", "64:ff9b::/96", "RFC6052"),
        ("2002:c000:204::1", "6to4", "2002::/16", "RFC3056"),
        ("fd12:3456::1", "unique_local", "fc00::/7", "RFC4193, RFC8190"),
        ("fe80::1", "link_local", "fe80::/10", "RFC4291"),
        ("224.0.0.251", "multicast", "224.0.0.0/4", "RFC5771"),
        ("ff02::1", "multicast", "ff00::/8", "RFC4291"),
        ("192.88.99.1", "6to4", "192.88.99.0/24", "RFC7526"),
        ("192.88.99.2", "6to4", "192.88.99.2/32", "RFC6751"),
        ("198.19.255.255", "benchmarking", "198.18.0.0/15", "RFC2544"),
        ("192.0.0.9", "anycast", "192.0.0.9/32", "RFC7723"),
        ("192.0.0.200", "protocol_assignment", "192.0.0.0/24", "RFC6890 §2.1"),
        ("3fff::1", "documentation", "3fff::/20", "RFC9637"),
        ("5f00::1", "srv6", "5f00::/16", "RFC9602"),
        ("100:0:0:1::1", "dummy", "100:0:0:1::/64", "RFC9780"),
        ("2001::1", "teredo", "2001::/32", "RFC4380, RFC8190"),
        ("0.0.0.0", "unspecified", "0.0.0.0/32", "RFC1122 §3.2.1.3"),
        ("0.1.2.3", "this_network", "0.0.0.0/8", "RFC791 §3.2"),
        ("255.255.255.255", "broadcast", "255.255.255.255/32", "RFC8190, RFC919 §7"),
        ("240.1.2.3", "reserved", "240.0.0.0/4", "RFC1112 §4"),
        ("fec0::1", "site_local", "fec0::/10", "RFC3879"),
    ],
)
def test_registry_rows(table: IpTable, ip: str, category: str, block: str, rfc: str) -> None:
    info = table.classify(ip)
    assert (info.category, info.block, info.rfc) == (category, block, rfc)
    assert info.public is False


@pytest.mark.parametrize("ip", ["8.8.8.8", "2606:4700::1111", "1.1.1.1", "2a00:1450::1"])
def test_public_addresses(table: IpTable, ip: str) -> None:
    info = table.classify(ip)
    assert info.public
    assert info.category == "public"
    assert info.block is None
    assert info.globally_reachable is True


def test_globally_reachable_exception_inside_protocol_assignments(table: IpTable) -> None:
    assert table.classify("192.0.0.9").globally_reachable is True
    assert table.classify("192.0.0.10").globally_reachable is True
    assert table.classify("192.0.0.11").globally_reachable is False
    # N/A in the registry stays unknown rather than guessed.
    assert table.classify("2001::1").globally_reachable is None


def test_ipv4_mapped_is_classified_as_ipv4(table: IpTable) -> None:
    info = table.classify("::ffff:10.1.2.3")
    assert (info.ip, info.version, info.category) == ("10.1.2.3", 4, "private")
    assert table.classify("::ffff:8.8.8.8").public


def test_zone_id_is_tolerated_and_dropped(table: IpTable) -> None:
    info = table.classify("fe80::1%eth0")
    assert (info.ip, info.category) == ("fe80::1", "link_local")


@pytest.mark.parametrize("bad", ["not-an-ip", "10.0.0.256", "", "10.0.0.1/8", "010.0.0.1", "1.2.3"])
def test_non_ip_raises_value_error_naming_the_value(table: IpTable, bad: str) -> None:
    with pytest.raises(ValueError, match="not an IP address") as err:
        table.classify(bad)
    assert repr(bad) in str(err.value)


def test_non_string_is_rejected_not_read_as_an_integer(table: IpTable) -> None:
    with pytest.raises(ValueError):
        table.classify(167772161)


def test_classification_is_cached(table: IpTable) -> None:
    assert table.classify("9.9.9.9") is table.classify("9.9.9.9")


def test_canonical_text_form(table: IpTable) -> None:
    assert table.classify("2001:DB8:0:0::1").ip == "2001:db8::1"


def test_non_public_cidrs_cover_elastic_rule_list(table: IpTable) -> None:
    """Every block of Elastic's reference exclusion list is excluded by ours too."""
    elastic = ["10.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
               "192.0.2.0/24", "192.31.196.0/24", "192.52.193.0/24", "192.168.0.0/16",
               "192.88.99.0/24", "224.0.0.0/4", "100.64.0.0/10", "192.175.48.0/24",
               "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "::1/128",
               "fe80::/10", "ff00::/8"]  # fmt: skip
    ours = [ipaddress.ip_network(c) for c in table.non_public_cidrs()]
    for cidr in elastic:
        net = ipaddress.ip_network(cidr)
        assert any(net.version == o.version and net.subnet_of(o) for o in ours), cidr  # type: ignore[arg-type]


def test_ipv6_list_never_covers_ipv4_mapped_space(table: IpTable) -> None:
    """ES matches IPv4 values against IPv6 CIDRs as ::ffff:a.b.c.d; ::/8 would swallow them."""
    mapped = ipaddress.IPv6Network("::ffff:0:0/96")
    for cidr in table.non_public_cidrs(6):
        assert not ipaddress.IPv6Network(cidr).overlaps(mapped), cidr


def test_non_public_cidr_match_renders_eql(table: IpTable) -> None:
    expr = non_public_cidr_match("destination.ip", 4)
    assert expr.startswith('cidrMatch(destination.ip, "0.0.0.0/8", "10.0.0.0/8"')
    assert expr.endswith(")")
    listed = expr[len("cidrMatch(destination.ip, ") : -1].replace('"', "").split(", ")
    assert listed == table.non_public_cidrs(4)
    both = non_public_cidr_match("source.ip")
    assert both.count('"') == 2 * len(table.non_public_cidrs())
    assert '"fc00::/7"' not in both  # collapsed into a larger block, not listed twice


def test_non_public_cidrs_rejects_bad_version(table: IpTable) -> None:
    with pytest.raises(ValueError, match="version"):
        table.non_public_cidrs(5)


@pytest.mark.parametrize("value", [167772161, None, ["10.0.0.1"], b"10.0.0.1"])
def test_parse_ip_rejects_non_strings_with_value_error(value: object) -> None:
    from eqlwatch.enrich.table import parse_ip

    with pytest.raises(ValueError, match="not an IP address"):
        parse_ip(value)
