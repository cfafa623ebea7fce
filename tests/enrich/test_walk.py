"""Enricher.enrich over ECS-shaped event sources, and the document an alert carries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from eqlwatch.enrich import Enricher, IpTable, is_ip_field, load_ip_table


@pytest.fixture(scope="module")
def enricher() -> Enricher:
    return Enricher(load_ip_table())


def _network_event() -> dict[str, Any]:
    return {
        "@timestamp": "2026-03-01T10:00:00Z",
        "event": {"category": ["network"]},
        "host": {"ip": ["10.0.0.5", "fe80::1%eth0"], "name": "ws1"},
        "source": {"ip": "10.0.0.5", "port": 49812},
        "destination": {"ip": "8.8.8.8", "address": "8.8.8.8", "port": 53},
        "related": {"ip": ["10.0.0.5", "8.8.8.8"]},
        "dns": {"resolved_ip": ["2606:4700::1111", "192.0.2.7"]},
        "process": {"command_line": "ping 1.1.1.1", "pid": 4},
        "file": {"pe": {"file_version": "1.0.0.0"}},
    }


def test_every_ip_once_in_order_with_all_its_paths(enricher: Enricher) -> None:
    result = enricher.enrich([_network_event()])
    assert [i.ip for i in result.ips] == [
        "10.0.0.5", "fe80::1", "8.8.8.8", "2606:4700::1111", "192.0.2.7",
    ]  # fmt: skip
    by_ip = {i.ip: i for i in result.ips}
    assert by_ip["10.0.0.5"].fields == ("host.ip", "source.ip", "related.ip")
    assert by_ip["8.8.8.8"].fields == ("destination.ip", "destination.address", "related.ip")
    assert by_ip["2606:4700::1111"].fields == ("dns.resolved_ip",)


def test_text_and_version_strings_are_not_ips(enricher: Enricher) -> None:
    ips = [i.ip for i in enricher.enrich([_network_event()]).ips]
    assert "1.1.1.1" not in ips  # inside a command line, not a value
    assert "1.0.0.0" not in ips  # a file version that happens to parse


def test_nested_dotted_and_sysmon_fields_give_the_same_paths(enricher: Enricher) -> None:
    sources = [
        {"source.ip": "192.168.1.10", "winlog": {"event_data": {"DestinationIp": "9.9.9.9"}}},
        {"source": {"ip": "192.168.1.10"}, "winlog.event_data.IpAddress": "::ffff:9.9.9.9"},
        {},  # a missing-event slot has an empty source
    ]
    result = enricher.enrich(sources)
    by_ip = {i.ip: i for i in result.ips}
    assert set(by_ip) == {"192.168.1.10", "9.9.9.9"}
    assert by_ip["192.168.1.10"].fields == ("source.ip",)
    assert by_ip["9.9.9.9"].fields == (
        "winlog.event_data.DestinationIp",
        "winlog.event_data.IpAddress",
    )


def test_unparseable_values_in_ip_fields_are_skipped(enricher: Enricher) -> None:
    sources = [{"source": {"address": "host.example"}, "winlog": {"IpAddress": "-"}}]
    assert enricher.enrich(sources).ips == ()


def test_bare_ip_values_in_other_fields_are_found(enricher: Enricher) -> None:
    result = enricher.enrich([{"url": {"domain": "203.0.113.9"}, "labels": {"peer": "::1"}}])
    assert [(i.ip, i.category) for i in result.ips] == [
        ("203.0.113.9", "documentation"),
        ("::1", "loopback"),
    ]


def test_views_and_document(enricher: Enricher) -> None:
    result = enricher.enrich([_network_event()])
    assert result.public_ips() == ["8.8.8.8", "2606:4700::1111"]
    assert result.by_category() == {
        "private": ["10.0.0.5"], "link_local": ["fe80::1"],
        "public": ["8.8.8.8", "2606:4700::1111"], "documentation": ["192.0.2.7"],
    }  # fmt: skip
    doc = result.to_document()
    assert doc["table"] == enricher.table.version
    assert doc["public_ips"] == result.public_ips()
    first = doc["ips"][0]
    assert first == {
        "ip": "10.0.0.5", "version": 4, "category": "private", "block": "10.0.0.0/8",
        "name": "Private-Use", "rfc": "RFC1918", "globally_reachable": False,
        "public": False, "labels": [], "fields": ["host.ip", "source.ip", "related.ip"],
    }  # fmt: skip


def test_labels_from_user_ranges_reach_the_document(tmp_path: Path) -> None:
    ranges = tmp_path / "ranges.toml"
    ranges.write_text('[[range]]\ncidr = "10.0.0.0/24"\nlabel = "corporate"\n')
    result = Enricher(load_ip_table(ranges)).enrich([{"source": {"ip": "10.0.0.5"}}])
    assert result.ips[0].labels == ("corporate",)
    assert result.to_document()["labels"] == ["corporate"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("source.ip", True), ("related.ip", True), ("host.ip", True), ("ip", True),
        ("dns.resolved_ip", True), ("client.address", True), ("server.nat.ip", True),
        ("winlog.event_data.DestinationIp", True), ("winlog.event_data.IpAddress", True),
        ("winlog.event_data.SourceIP", True), ("threat.indicator.ip", True),
        ("zip", False), ("file.ownership", False), ("user.name", False),
        ("process.pid", False), ("http.request.method", False), ("skip", False),
    ],
)  # fmt: skip
def test_ip_field_rule(path: str, expected: bool) -> None:
    assert is_ip_field(path) is expected


def test_enrich_uses_the_table_cache(enricher: Enricher) -> None:
    table: IpTable = enricher.table
    a = enricher.enrich([{"source": {"ip": "9.8.7.6"}}]).ips[0]
    assert table.classify("9.8.7.6").category == a.category


def test_field_paths_are_remembered_per_key_not_per_equal_key(enricher: Enricher) -> None:
    """1 and True are equal dict keys but different field names; paths stay exact."""
    first = enricher.enrich([{"peer": {1: "10.1.1.1"}}]).ips[0]
    second = enricher.enrich([{"peer": {True: "10.1.1.2"}}]).ips[0]
    assert (first.fields, second.fields) == (("peer.1",), ("peer.True",))


def test_ip_fields_with_padding_still_parse(enricher: Enricher) -> None:
    result = enricher.enrich([{"source": {"ip": " 10.9.8.7 "}, "note": "no address here"}])
    assert [(i.ip, i.fields) for i in result.ips] == [("10.9.8.7", ("source.ip",))]


def test_shared_document_is_built_once_and_equals_a_fresh_one(enricher: Enricher) -> None:
    result = enricher.enrich([_network_event()])
    shared = result.document()
    assert shared is result.document()
    assert shared == result.to_document()
    assert result.to_document() is not result.to_document()  # public copies stay fresh
