"""The normaliser's fast paths give what the general path gives, key order included.

The general path is the one the fast paths replaced on the hot loop: EventData flattened
into a copy and then cleaned, collector fields dropped by a copy, ECS fields set one dotted
`put` at a time. Each is kept here (or still in the package) as the reference.
"""

from __future__ import annotations

import copy
from typing import Any

import communityid
import orjson
from communityid.error import FlowTupleError
from hypothesis import given
from hypothesis import strategies as st

from eqlwatch.sysmon.argv import split_command_line
from eqlwatch.sysmon.mapping import _PE_COPIES, _PROCESS_RENAMES, map_process
from eqlwatch.sysmon.netmap import map_network, map_related_ips
from eqlwatch.sysmon.normalize import ECS_VERSION, NAMESPACE, SYSMON_DATASET, _envelope
from eqlwatch.sysmon.record import WinRecord
from eqlwatch.sysmon.shapes import _NXLOG_META, _event_data, _flatten_event_data
from eqlwatch.sysmon.values import (
    append_unique,
    basename,
    clean_event_data,
    get,
    put,
    to_int,
    valid_ip,
)

_KEYS = st.sampled_from(
    [
        "#attributes", "#text", "Data", "ProcessGuid", "SourceProcessGUID", "LogonGuid",
        "Image", "CommandLine", "param1", "param2", "EventTime", "Hostname", "Message",
        "SourceName", "EventID", "guid",
    ]
) | st.text(max_size=6)  # fmt: skip
_GUIDISH = st.sampled_from(
    [
        "365abb72-c8b1-5cc4-0000-001037a41200",
        "{365ABB72-C8B1-5CC4-0000-001037A41200}",
        " {365abb72-c8b1-5cc4-0000-001037a41200} ",
        "00000000-0000-0000-0000-000000000000",
        "{00000000-0000-0000-0000-000000000000}",
        "365abb72-c8b1-5cc4-0000-001037a4120",
    ]
)
_SCALAR = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["", "-", "  ", "true"]),
    _GUIDISH,
    st.integers(-(2**40), 2**40),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False),
)
_NODE = st.one_of(
    _SCALAR,
    st.fixed_dictionaries({"#text": _SCALAR}),
    st.fixed_dictionaries({"#attributes": st.just({"Name": "x"}), "#text": _SCALAR}),
    st.dictionaries(_KEYS, _SCALAR, max_size=3),
)
_VALUE = st.one_of(_NODE, st.lists(_NODE, max_size=4))


def _items(d: dict[str, Any]) -> list[tuple[str, Any]]:
    return list(d.items())


@given(st.one_of(st.dictionaries(_KEYS, _VALUE, max_size=12), _VALUE))
def test_event_data_in_one_pass_is_flatten_then_clean(node: Any) -> None:
    expected = clean_event_data(_flatten_event_data(node))
    assert _items(_event_data(node)) == _items(expected)


@given(st.dictionaries(_KEYS, _SCALAR, max_size=20), st.frozensets(_KEYS, max_size=5))
def test_clean_with_skipped_keys_is_clean_of_a_copy_without_them(
    raw: dict[str, Any], skip: frozenset[str]
) -> None:
    copy = {k: v for k, v in raw.items() if k not in skip}
    assert _items(clean_event_data(raw, skip=skip)) == _items(clean_event_data(copy))


@given(st.dictionaries(_KEYS, _SCALAR, max_size=20))
def test_nxlog_meta_skipped_as_the_copy_did(raw: dict[str, Any]) -> None:
    copy = {k: v for k, v in raw.items() if k not in _NXLOG_META}
    assert _items(clean_event_data(raw, skip=_NXLOG_META)) == _items(clean_event_data(copy))


# --- the envelope: built key by key against the dotted puts it replaced -------------------


def _envelope_by_puts(rec: WinRecord, dataset: str) -> dict[str, Any]:
    winlog: dict[str, Any] = {"event_id": str(rec.event_id)}
    simple = {
        "channel": rec.channel,
        "computer_name": rec.computer,
        "provider_name": rec.provider,
        "provider_guid": rec.provider_guid,
        "record_id": None if rec.record_id is None else str(rec.record_id),
        "version": rec.version,
        "opcode": rec.opcode,
        "task": rec.task,
    }
    winlog.update({k: v for k, v in simple.items() if v is not None})
    if rec.pid is not None:
        put(winlog, "process.pid", rec.pid)
    if rec.thread_id is not None:
        put(winlog, "process.thread.id", rec.thread_id)
    if rec.user_sid:
        put(winlog, "user.identifier", rec.user_sid)
    if rec.user_data:
        winlog["user_data"] = dict(rec.user_data)
    doc: dict[str, Any] = {
        "ecs": {"version": ECS_VERSION},
        "event": {"kind": "event", "code": str(rec.event_id), "dataset": dataset},
        "data_stream": {"type": "logs", "dataset": dataset, "namespace": NAMESPACE},
        "host": {"os": {"type": "windows", "family": "windows", "platform": "windows"}},
        "winlog": winlog,
    }
    if rec.time_created:
        doc["@timestamp"] = rec.time_created
        put(doc, "event.created", rec.time_created)
    if rec.provider:
        put(doc, "event.provider", rec.provider)
    if rec.computer:
        put(doc, "host.name", rec.computer)
    if rec.level:
        put(doc, "log.level", rec.level)
    if rec.user_sid:
        put(doc, "user.id", rec.user_sid)
    return doc


_TEXT = st.one_of(st.none(), st.sampled_from(["", "-", "x"]), st.text(max_size=5))
_INT = st.one_of(st.none(), st.integers(0, 2**32))

_RECORDS = st.builds(
    WinRecord,
    event_id=st.integers(0, 70000),
    provider=_TEXT,
    provider_guid=_TEXT,
    channel=_TEXT,
    computer=_TEXT,
    record_id=_INT,
    time_created=_TEXT,
    level=_TEXT,
    version=_INT,
    opcode=_TEXT,
    task=_TEXT,
    pid=_INT,
    thread_id=_INT,
    user_sid=_TEXT,
    user_data=st.one_of(st.none(), st.dictionaries(st.text(max_size=3), _TEXT, max_size=2)),
)


@given(_RECORDS)
def test_envelope_is_the_one_the_puts_built(rec: WinRecord) -> None:
    # Serialised: the same bytes means the same keys in the same order at every level.
    assert orjson.dumps(_envelope(rec, SYSMON_DATASET)) == orjson.dumps(
        _envelope_by_puts(rec, SYSMON_DATASET)
    )


# --- get: against a walk that checks every step ----------------------------------------


def _get_checked(doc: Any, dotted: str) -> Any:
    node = doc
    for name in dotted.split("."):
        if not isinstance(node, dict) or name not in node:
            return None
        node = node[name]
    return node


_TREE = st.recursive(
    st.one_of(st.none(), st.integers(), st.text(max_size=3)),
    lambda inner: st.dictionaries(st.sampled_from("abc"), inner, max_size=3),
    max_leaves=12,
)


@given(_TREE, st.lists(st.sampled_from("abc"), min_size=1, max_size=4).map(".".join))
def test_get_is_a_checked_walk(doc: Any, dotted: str) -> None:
    assert get(doc, dotted) == _get_checked(doc, dotted)


# --- process and network fields: on their objects against the dotted gets and puts --------


def _rename_by_paths(
    doc: dict[str, Any], data: dict[str, str], key: str, field: str, as_int: bool = False
) -> None:
    if key not in data or get(doc, field) is not None:
        return
    if as_int:
        number = to_int(data[key])
        if number is None:
            return
        put(doc, field, number)
    else:
        put(doc, field, data[key])
    del data[key]


def _map_process_by_paths(doc: dict[str, Any], data: dict[str, str], eid: int) -> None:
    for key, field, as_int in _PROCESS_RENAMES:
        _rename_by_paths(doc, data, key, field, as_int)
    if eid != 7:
        _rename_by_paths(doc, data, "OriginalFileName", "process.pe.original_file_name")
        for key, name in _PE_COPIES:
            if key in data:
                put(doc, f"process.pe.{name}", data[key])
    for prefix in ("process", "process.parent"):
        cmd = get(doc, f"{prefix}.command_line")
        if cmd:
            args = split_command_line(cmd)
            put(doc, f"{prefix}.args", args)
            put(doc, f"{prefix}.args_count", len(args))
        exe = get(doc, f"{prefix}.executable")
        if exe and len(exe) > 1 and get(doc, f"{prefix}.name") is None:
            short = basename(exe)
            if short:
                put(doc, f"{prefix}.name", short)


def _map_network_by_paths(doc: dict[str, Any], data: dict[str, str], eid: int) -> None:
    if "Protocol" in data:
        put(doc, "network.transport", data.pop("Protocol"))
    if eid == 22:
        put(doc, "network.protocol", "dns")
    else:
        proto = data.get("DestinationPortName") or data.get("SourcePortName")
        if proto is not None:
            put(doc, "network.protocol", proto)
    for side, prefix in (("source", "Source"), ("destination", "Destination")):
        ip = valid_ip(data.get(f"{prefix}Ip", ""))
        if ip is not None:
            put(doc, f"{side}.ip", ip)
        host = data.pop(f"{prefix}Hostname", None)
        if host is not None:
            put(doc, f"{side}.domain", host)
        port = to_int(data.get(f"{prefix}Port"))
        if port is not None:
            put(doc, f"{side}.port", port)
    initiated = data.get("Initiated")
    if initiated in ("true", "false"):
        put(doc, "network.direction", "egress" if initiated == "true" else "ingress")
    v6 = data.get("SourceIsIpv6")
    if v6 in ("true", "false"):
        put(doc, "network.type", "ipv6" if v6 == "true" else "ipv4")
    proto_n = {"tcp": 6, "udp": 17}.get(str(get(doc, "network.transport") or "").lower())
    src, dst = get(doc, "source.ip"), get(doc, "destination.ip")
    sport, dport = get(doc, "source.port"), get(doc, "destination.port")
    if proto_n is not None and None not in (src, dst, sport, dport):
        try:
            flow = communityid.FlowTuple(proto_n, src, dst, sport, dport)
        except FlowTupleError:
            flow = None
        if flow is not None:
            put(doc, "network.community_id", communityid.CommunityID().calc(flow))
    ips = [ip for ip in (get(doc, "source.ip"), get(doc, "destination.ip")) if ip]
    append_unique(doc, "related.ip", ips)


_DATA_KEYS = st.sampled_from(
    [key for key, _, _ in _PROCESS_RENAMES]
    + ["OriginalFileName", "Company", "Product", "Protocol", "Initiated", "SourceIsIpv6"]
    + [f"{p}{k}" for p in ("Source", "Destination") for k in ("Ip", "Hostname", "Port", "PortName")]
)
_DATA_VALUES = st.one_of(
    st.sampled_from(
        [
            "C:\\Windows\\System32\\cmd.exe", "\\", "x", 'a "b c" d', "1234", "0x1f", "abc",
            "tcp", "udp", "true", "false", "10.0.0.1", "::1", "443", "65536",
        ]
    ),
    st.text(max_size=6),
)  # fmt: skip
# What earlier steps may have set (hashes on process, a DNS answer's related.ip).
_PRESET = st.sampled_from(
    [
        {},
        {"process": {"hash": {"md5": "ab"}}},
        {"process": {"pid": None, "executable": "C:\\a.exe"}},
        {"process": "not an object"},
        {"related": {"ip": ["10.0.0.1"]}},
        {"x": 1},
    ]
)


_ADDRESS = st.sampled_from(["10.0.0.1", "151.101.0.133", "::1", "fe80::1", "nope"])
# A whole connection (so a community id is made), some of it perhaps overwritten.
_CONNECTION = st.fixed_dictionaries(
    {
        "Protocol": st.sampled_from(["tcp", "udp", "TCP", "icmp"]),
        "SourceIp": _ADDRESS,
        "DestinationIp": _ADDRESS,
        "SourcePort": st.sampled_from(["49152", "53", "x"]),
        "DestinationPort": st.sampled_from(["443", "80"]),
    }
)
_DATA = st.one_of(
    st.dictionaries(_DATA_KEYS, _DATA_VALUES, max_size=10),
    st.tuples(_CONNECTION, st.dictionaries(_DATA_KEYS, _DATA_VALUES, max_size=4)).map(
        lambda pair: {**pair[0], **pair[1]}
    ),
)


@given(_DATA, st.integers(1, 30), _PRESET)
def test_process_and_network_fields_are_the_ones_the_paths_built(
    data: dict[str, str], eid: int, preset: dict[str, Any]
) -> None:
    doc, expected = copy.deepcopy(preset), copy.deepcopy(preset)
    left, right = dict(data), dict(data)
    map_process(doc, left, eid)
    map_network(doc, left, eid)
    map_related_ips(doc)
    _map_process_by_paths(expected, right, eid)
    _map_network_by_paths(expected, right, eid)
    assert orjson.dumps(doc) == orjson.dumps(expected)
    assert _items(left) == _items(right)
