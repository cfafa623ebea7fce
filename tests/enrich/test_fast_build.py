"""The hot path's shortcuts give exactly what the plain constructors and `ipaddress` give.

`ip_info` and the Enrichment the scan returns are built through their slots instead of the
frozen dataclass __init__; `facts` is the tuple form of `lookup`; IPv6 text is compressed
by string search. Each must be indistinguishable from the straightforward way.
"""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.enrich import Enricher, Enrichment, IpInfo, IpTable, load_ip_table
from eqlwatch.enrich.info import ip_info
from eqlwatch.enrich.table import plain_ipv6

TABLE: IpTable = load_ip_table()


def test_ip_info_equals_the_dataclass_constructor_in_every_respect() -> None:
    facts = TABLE.facts("10.1.2.3")
    assert facts is not None
    built = ip_info(facts, ("source.ip", "related.ip"))
    plain = IpInfo(facts[0], facts[1], *facts[2], fields=("source.ip", "related.ip"))
    assert type(built) is IpInfo
    assert built == plain
    assert hash(built) == hash(plain)
    assert repr(built) == repr(plain)
    assert dataclasses.astuple(built) == dataclasses.astuple(plain)
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.ip = "10.9.9.9"  # type: ignore[misc]


_texts = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    st.ip_addresses(v=6).map(lambda a: a.exploded.upper()),
    st.ip_addresses(v=4).map(lambda a: f"::ffff:{a}"),
    st.ip_addresses(v=6).map(lambda a: f" {a}%eth0 "),
    st.text("0123456789abcdef:. %", max_size=20),
)


@settings(max_examples=300)
@given(_texts)
def test_facts_is_lookup_as_a_tuple(text: str) -> None:
    facts = TABLE.facts(text)
    info = TABLE.lookup(text)
    if info is None:
        assert facts is None
    else:
        assert facts is not None
        assert ip_info(facts, ()) == info
        assert TABLE.facts(text) is facts  # cached


def test_scan_result_is_an_ordinary_enrichment() -> None:
    enricher = Enricher(TABLE)
    result, _ = enricher.scan([{"source": {"ip": "10.0.0.5"}, "destination": {"ip": "::1"}}])
    plain = Enrichment(ips=result.ips, table=TABLE.version)
    assert result == plain
    assert repr(result) == repr(plain)
    assert result.document() == plain.document() == plain.to_document()
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.table = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    "text",
    [
        "1:0:0:1:0:0:0:1",  # the second run is longer
        "1:0:0:1:0:0:1:1",  # a tie: the first run wins
        "0:0:1:0:0:1:0:0",  # three runs of two
        "1:0:1:0:1:0:1:0",  # single zero groups are never compressed
        "0:0:0:0:0:0:0:0",
        "0:0:0:0:0:0:0:1",
        "1:0:0:0:0:0:0:0",
        "abcd:0:0:0:1:0:0:0",
        "0:1:0:0:0:0:1:0",
        "1:2:3:4:5:6:7:8",
        "1::",
        "::2:0:0:3",
    ],
)
def test_compressed_text_is_what_ipaddress_writes(text: str) -> None:
    fast = plain_ipv6(text)
    expected = ipaddress.IPv6Address(text)
    assert fast == (int(expected), str(expected))
