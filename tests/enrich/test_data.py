"""The packaged table file itself: complete rows, known registries, stable categories."""

from __future__ import annotations

import ipaddress
from collections import Counter

import pytest

from eqlwatch.enrich import CATEGORIES, load_ip_table
from eqlwatch.enrich.rows import Row, load_iana_rows

DATA = load_iana_rows()
FLAGS = ("source", "destination", "forwardable", "globally_reachable", "reserved_by_protocol")
SPECIAL = ("iana-ipv4-special-registry", "iana-ipv6-special-registry")


def test_table_is_versioned_and_names_its_registries() -> None:
    assert DATA.version.startswith("iana-")
    ids = [s["id"] for s in DATA.sources]
    assert set(ids) == {*SPECIAL, "ipv4-address-space", "ipv6-address-space"}
    assert all(s["title"].startswith("IANA") for s in DATA.sources)
    assert load_ip_table().version == DATA.version


def test_blocks_are_unique_and_canonical() -> None:
    counts = Counter(r.block for r in DATA.rows)
    assert [b for b, n in counts.items() if n > 1] == []
    for row in DATA.rows:
        assert str(ipaddress.ip_network(row.block)) == row.block  # strict: no host bits


def test_every_category_is_a_documented_one() -> None:
    assert {r.category for r in DATA.rows} | {"public"} == set(CATEGORIES)


SPECIAL_ROWS = [r for r in DATA.rows if r.registry in SPECIAL]


@pytest.mark.parametrize("r", SPECIAL_ROWS, ids=[r.block for r in SPECIAL_ROWS])
def test_special_purpose_rows_carry_the_registry_columns(r: Row) -> None:
    assert r.allocated is not None
    flags = {f: getattr(r, f) for f in FLAGS}
    if r.terminated is not None:
        assert set(flags.values()) == {None}, "terminated rows have empty columns"
    elif r.block in ("2001::/32", "2002::/16"):
        assert flags["globally_reachable"] is None  # N/A in the registry
        assert None not in {v for k, v in flags.items() if k != "globally_reachable"}
    else:
        assert None not in flags.values()


def test_registry_counts_match_the_transcribed_registries() -> None:
    per = Counter(r.registry for r in DATA.rows)
    # 25 IPv4 rows (192.0.0.170/32 and .171/32 share one registry line) and 25 IPv6 rows.
    assert per["iana-ipv4-special-registry"] == 26
    assert per["iana-ipv6-special-registry"] == 25


def test_unknown_registry_is_rejected() -> None:
    text = 'version = "x"\n[[registry]]\nid = "a"\ntitle = "A"\n[[row]]\nblock = "10.0.0.0/8"\n'
    text += 'category = "private"\nname = "n"\nrfc = "r"\nregistry = "b"\n'
    with pytest.raises(ValueError, match="unknown registries"):
        load_iana_rows(text)
