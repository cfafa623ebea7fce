"""`Enricher.scan` against a straightforward reading of the rule in walk.py's docstring.

The reference below walks every event the plain way (format every path, try every string),
parses with `ipaddress` (through `parse_ip`), and builds the document field by field. The
fast scan must agree with it exactly: same addresses in the same order, same field paths in
the same order, same plain flags, and byte-identical JSON documents (key order included).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.enrich import Enricher, IpInfo, IpTable, is_ip_field, load_ip_table
from eqlwatch.enrich.table import parse_ip

_HEX_COLON_DOT = frozenset("0123456789abcdefABCDEF:.")
_ZONE = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_.-")


def shape_ok(text: str) -> bool:
    """The cheap shape check, spelt out: hex, colons and dots, an optional `%zone`.

    Like a regex `$`, one final newline is allowed.
    """
    body = text[:-1] if text.endswith("\n") else text
    address, percent, zone = body.partition("%")
    if not (2 <= len(address) <= 45 and set(address) <= _HEX_COLON_DOT):
        return False
    return not percent or (1 <= len(zone) <= 32 and set(zone) <= _ZONE)


def _strings(value: object, path: str, out: list[tuple[str, str]], plain: list[bool]) -> None:
    kind = type(value)
    if kind is str:
        out.append((path, value))  # type: ignore[arg-type]
    elif kind is list or kind is tuple:
        for item in value:  # type: ignore[attr-defined]
            _strings(item, path, out, plain)
    elif kind not in (int, float, bool, type(None)) and isinstance(value, Mapping):
        if kind is not dict:
            plain[0] = False
        for key, child in value.items():
            if type(key) is not str or "." in key:
                plain[0] = False
            _strings(child, f"{path}.{key}" if path else str(key), out, plain)


def _address(path: str, text: str) -> str | None:
    """The address `text` stands for under `path`, per the documented rule, or None."""
    leaf = path.rsplit(".", 1)[-1]
    if not is_ip_field(path) and ("version" in leaf.lower() or not shape_ok(text)):
        return None
    try:
        return str(parse_ip(text))
    except ValueError:
        return None


def reference_scan(
    table: IpTable, sources: Sequence[Mapping[Any, Any]]
) -> tuple[tuple[IpInfo, ...], tuple[bool, ...], dict[str, Any]]:
    found: list[tuple[str, str]] = []
    flags: list[bool] = []
    for source in sources:
        plain = [type(source) is dict]
        _strings(source, "", found, plain)
        flags.append(plain[0])
    paths: dict[str, dict[str, None]] = {}
    for path, text in found:
        ip = _address(path, text)
        if ip is not None:
            paths.setdefault(ip, {})[path] = None
    ips = tuple(
        dataclasses.replace(table.classify(ip), fields=tuple(where), labels=_labels(table, ip))
        for ip, where in paths.items()
    )
    return ips, tuple(flags), _reference_document(table, ips)


def _labels(table: IpTable, ip: str) -> tuple[str, ...]:
    """User-range labels, worked out apart from the table: most specific range first."""
    value = int(ipaddress.ip_address(ip))
    inside = sorted(
        (-user.prefixlen, index, user.label)
        for index, user in enumerate(table.user_ranges)
        if user.version == ipaddress.ip_address(ip).version and user.first <= value <= user.last
    )
    return tuple(dict.fromkeys(label for _, _, label in inside))


def _reference_document(table: IpTable, ips: tuple[IpInfo, ...]) -> dict[str, Any]:
    categories: dict[str, list[str]] = {}
    for info in ips:
        categories.setdefault(info.category, []).append(info.ip)
    return {
        "table": table.version,
        "ips": [
            {
                "ip": i.ip, "version": i.version, "category": i.category, "block": i.block,
                "name": i.name, "rfc": i.rfc, "globally_reachable": i.globally_reachable,
                "public": i.public, "labels": list(i.labels), "fields": list(i.fields),
            }
            for i in ips
        ],
        "categories": categories,
        "public_ips": [i.ip for i in ips if i.public],
        "labels": sorted({label for i in ips for label in i.labels}),
    }  # fmt: skip


_V4 = st.ip_addresses(v=4)
_V6 = st.ip_addresses(v=6)
_FIXED = [
    "10.0.0.5", "8.8.8.8", "192.0.2.7", "100.64.1.2", "::1", "fe80::1%eth0", "FE80::1",
    "::ffff:10.0.0.5", "::FFFF:8.8.8.8", " 10.0.0.5 ", "10.0.0.5\n", "10.0.0.5\n\n",
    "010.0.0.5", "1.2.3", "1.0.0.0", "2001:DB8::1", "2001:db8:0:0:0:0:0:1", "host.example",
    "-", "2025-06-01T10:00:00.000Z", "cmd.exe", "ping 1.1.1.1", "C:\\Windows\\a.exe",
    "fe80::1%", "fe80::1%a b", "1.2.3.4%eth0", "::", "::1.2.3.4", "a.b", "..", "::ffff:0:0",
    "fe80::1%" + "z" * 32, "fe80::1%" + "z" * 33,
]  # fmt: skip
_ips = st.one_of(
    st.sampled_from(_FIXED),
    _V4.map(str),
    _V6.map(str),
    _V6.map(lambda a: a.exploded.upper()),
    st.tuples(_V6, st.text("eth0Z_.-% ", max_size=34)).map(lambda p: f"{p[0]}%{p[1]}"),
    _V4.map(lambda a: f"::ffff:{a}"),
    _V4.map(lambda a: f"  {a}\t"),
    st.text("0123456789abcdefABCDEF:.% \n-gxT", max_size=14),
)
_values = st.one_of(
    _ips,
    _ips,
    st.integers(-5, 70000),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.text(max_size=6),
)
_KEYS = [
    "ip", "ips", "source", "destination", "address", "client", "DestinationIp", "SourceIP",
    "IpAddress", "SourceIps", "nat_ip", "resolved_ip", "file_version", "version", "Version",
    "name", "command_line", "host", "related", "zip", "peer", "", "source.ip", "a.b",
    "winlog.event_data.IpAddress", "pe.file_version", "ip.",
]  # fmt: skip
_keys = st.one_of(st.sampled_from(_KEYS), st.sampled_from([1, True, 2.5, None, (1, "ip")]))


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    mapping = st.dictionaries(_keys, children, max_size=5)
    return st.one_of(
        mapping,
        mapping,
        mapping.map(MappingProxyType),
        st.lists(children, max_size=4),
        st.lists(children, max_size=3).map(tuple),
    )


_tree = st.recursive(_values, _containers, max_leaves=15)
_event = st.dictionaries(_keys, _tree, max_size=7)
_sources = st.lists(st.one_of(_event, _event, _event.map(MappingProxyType)), max_size=4).flatmap(
    lambda events: st.just(events) | st.just(events + events[:1])
)

TABLE: IpTable = load_ip_table()
SHARED = Enricher(TABLE)  # one Enricher over many examples: its field cache must not leak


def _check(enricher: Enricher, sources: list[Mapping[Any, Any]]) -> None:
    enrichment, flags = enricher.scan(sources)
    ips, ref_flags, document = reference_scan(enricher.table, sources)
    assert enrichment.ips == ips
    assert flags == ref_flags
    expected = orjson.dumps(document)
    assert orjson.dumps(enrichment.to_document()) == expected
    assert orjson.dumps(enrichment.document()) == expected
    assert orjson.dumps(enrichment.to_document()) == expected  # after document(): same


@settings(max_examples=300, deadline=None)
@given(_sources)
def test_scan_matches_the_reference(sources: list[Mapping[Any, Any]]) -> None:
    _check(SHARED, sources)


@settings(max_examples=80, deadline=None)
@given(_sources)
def test_scan_matches_the_reference_with_a_fresh_enricher(
    sources: list[Mapping[Any, Any]],
) -> None:
    _check(Enricher(load_ip_table()), sources)


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Enricher:
    ranges: Path = tmp_path_factory.mktemp("ranges") / "ranges.toml"
    ranges.write_text(
        '[[range]]\ncidr = "10.0.0.0/8"\nlabel = "corp"\n'
        '[[range]]\ncidr = "10.0.0.0/24"\nlabel = "lab"\n'
        '[[range]]\ncidr = "2001:db8::/32"\nlabel = "v6net"\n'
    )
    return Enricher(load_ip_table(ranges))


@settings(max_examples=80, deadline=None)
@given(sources=_sources)
def test_scan_matches_the_reference_with_user_labels(
    labelled: Enricher, sources: list[Mapping[Any, Any]]
) -> None:
    _check(labelled, sources)


@pytest.mark.parametrize("text", _FIXED)
def test_each_fixed_value_in_a_generic_and_a_named_field(text: str) -> None:
    _check(SHARED, [{"peer": text, "source": {"ip": [text]}, "file_version": text}])


def test_the_reference_itself_on_a_known_event() -> None:
    """The reference is only worth something if it gets a hand-checked case right."""
    sources: list[Mapping[Any, Any]] = [
        {
            "source": {"ip": " 10.0.0.5 "},
            "file.version": "1.0.0.0",
            "peer": ["::FFFF:8.8.8.8", "8.8.8.8\n", "ping 1.1.1.1"],
            "x": {"DestinationIp": "fe80::1%eth0"},
        },
        MappingProxyType({"related": {"ip": "10.0.0.5"}}),
    ]
    ips, flags, document = reference_scan(TABLE, sources)
    assert [(i.ip, i.fields) for i in ips] == [
        ("10.0.0.5", ("source.ip", "related.ip")),
        ("8.8.8.8", ("peer",)),
        ("fe80::1", ("x.DestinationIp",)),
    ]
    assert flags == (False, False)
    assert document["public_ips"] == ["8.8.8.8"]
    assert ipaddress.ip_address(document["ips"][2]["ip"]).is_link_local


@pytest.mark.parametrize(
    ("text", "expected"),
    [("10.0.0.5", True), ("10.0.0.5\n", True), ("10.0.0.5\n\n", False), (" 10.0.0.5", False),
     ("fe80::1%eth0", True), ("fe80::1%", False), ("fe80::1%a b", False), ("1", False),
     ("a" * 45, True), ("a" * 46, False), ("::1%" + "z" * 32, True), ("::1%" + "z" * 33, False)],
)  # fmt: skip
def test_shape_spelt_out_on_known_cases(text: str, expected: bool) -> None:
    assert shape_ok(text) is expected
