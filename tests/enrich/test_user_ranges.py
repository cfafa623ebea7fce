"""User ranges: precedence over each other, on top of IANA, and errors that name the spot."""

from __future__ import annotations

import ipaddress
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.enrich import load_ip_table
from eqlwatch.errors import ConfigError

RANGES = """
[[range]]
cidr = "203.0.113.0/24"
label = "corporate"
description = "HQ egress"

[[range]]
cidr = "203.0.113.128/25"
label = "vpn"

[[range]]
cidr = "8.8.8.0/24"
label = "scanner"

[[range]]
cidr = "2001:db8:1::/48"
label = "corporate"

[[range]]
cidr = "8.8.8.0/24"
label = "resolver"
"""


@pytest.fixture
def ranges(tmp_path: Path) -> Path:
    path = tmp_path / "ranges.toml"
    path.write_text(RANGES)
    return path


def test_most_specific_user_range_comes_first(ranges: Path) -> None:
    table = load_ip_table(ranges)
    assert table.classify("203.0.113.200").labels == ("vpn", "corporate")
    assert table.classify("203.0.113.5").labels == ("corporate",)
    assert table.classify("203.0.114.5").labels == ()


def test_same_cidr_keeps_file_order(ranges: Path) -> None:
    assert load_ip_table(ranges).classify("8.8.8.8").labels == ("scanner", "resolver")


def test_user_ranges_label_but_never_change_the_iana_facts(ranges: Path) -> None:
    table = load_ip_table(ranges)
    doc = table.classify("203.0.113.200")
    assert (doc.category, doc.public) == ("documentation", False)
    scanner = table.classify("8.8.8.8")
    assert (scanner.category, scanner.public) == ("public", True)
    assert table.classify("2001:db8:1::9").labels == ("corporate",)
    assert table.classify("::ffff:203.0.113.200").labels == ("vpn", "corporate")
    assert table.non_public_cidrs() == load_ip_table().non_public_cidrs()


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ('[[range]]\ncidr = "10.0.0.300/8"\nlabel = "x"\n', "range[0].cidr", "invalid CIDR"),
        ('[[range]]\ncidr = "10.0.0.1/8"\nlabel = "x"\n', "range[0].cidr", "host bits"),
        ('[[range]]\nlabel = "x"\n', "range[0].cidr", "required"),
        ('[[range]]\ncidr = "10.0.0.0/8"\nlabel = "x"\n[[range]]\ncidr = "10.0.0.0/8"\n',
         "range[1].label", "label"),
        ('[[range]]\ncidr = "10.0.0.0/8"\nlabel = "Has Space"\n', "range[0].label", "label"),
        ('[[range]]\ncidr = "10.0.0.0/8"\nlabel = "x"\ncolour = "red"\n', "range[0].colour",
         "unknown key"),
        ('[[range]]\ncidr = "10.0.0.0/8"\nlabel = "x"\ndescription = 3\n',
         "range[0].description", "description"),
        ('ranges = []\n', "ranges", "unknown top-level key"),
        ('range = "10.0.0.0/8"\n', "range", "array of tables"),
    ],
)  # fmt: skip
def test_errors_name_file_and_field(tmp_path: Path, text: str, field: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        load_ip_table(path)
    assert err.value.location is not None
    assert err.value.location.file == str(path)
    assert err.value.location.field == field
    assert str(path) in str(err.value)


def test_invalid_toml_and_missing_file_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[[range]\n")
    with pytest.raises(ConfigError, match="invalid TOML") as err:
        load_ip_table(broken)
    assert err.value.location is not None
    assert err.value.location.file == str(broken)
    with pytest.raises(ConfigError, match="cannot read"):
        load_ip_table(tmp_path / "absent.toml")


def test_empty_file_means_no_ranges(tmp_path: Path) -> None:
    path = tmp_path / "empty.toml"
    path.write_text("")
    assert load_ip_table(path).user_ranges == ()


@st.composite
def _ranges_and_probe(draw: st.DrawFn) -> tuple[list[tuple[str, str]], str]:
    """Random nested and disjoint IPv4 ranges, and an address near one of them."""
    nets = []
    for i in range(draw(st.integers(1, 12))):
        prefix = draw(st.integers(8, 32))
        base = draw(st.integers(0, 2**32 - 1)) >> (32 - prefix) << (32 - prefix)
        nets.append((str(ipaddress.IPv4Network((base, prefix))), f"l{i}"))
    anchor = ipaddress.IPv4Network(draw(st.sampled_from(nets))[0])
    offset = draw(st.integers(-2, anchor.num_addresses + 1))
    value = min(max(int(anchor.network_address) + offset, 0), 2**32 - 1)
    return nets, str(ipaddress.IPv4Address(value))


@settings(max_examples=150, deadline=None)
@given(_ranges_and_probe())
def test_labels_are_every_containing_range_most_specific_first(case) -> None:
    nets, probe = case
    text = "".join(f'[[range]]\ncidr = "{c}"\nlabel = "{label}"\n' for c, label in nets)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.toml"
        path.write_text(text)
        table = load_ip_table(path)
    addr = ipaddress.IPv4Address(probe)
    containing = [(i, c, label) for i, (c, label) in enumerate(nets)
                  if addr in ipaddress.IPv4Network(c)]  # fmt: skip
    containing.sort(key=lambda e: (-ipaddress.IPv4Network(e[1]).prefixlen, e[0]))
    expected = tuple(dict.fromkeys(label for _, _, label in containing))
    assert table.classify(probe).labels == expected
