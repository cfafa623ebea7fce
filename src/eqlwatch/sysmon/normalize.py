"""A Windows event record → one ECS document, the way Elastic's windows integration maps it.

Pure: no I/O, no clock. Sysmon events get the full `sysmon_operational` mapping; any other
channel gets the generic part (`@timestamp`, `event.code`, `host.name`, `winlog.*`) and goes
to the `forwarded` data stream, as the integration does with forwarded events.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from eqlwatch.errors import DataError
from eqlwatch.sysmon.mapping import map_dll, map_file, map_hashes, map_process, map_user
from eqlwatch.sysmon.netmap import map_dns, map_network, map_registry, map_related_ips
from eqlwatch.sysmon.record import WinRecord
from eqlwatch.sysmon.shapes import ADAPTERS, record_shape
from eqlwatch.sysmon.tables import SYSMON_EVENTS
from eqlwatch.sysmon.values import parse_utc_time, put
from eqlwatch.sysmon.xmlevent import parse_event_xml

SYSMON_DATASET = "windows.sysmon_operational"
FORWARDED_DATASET = "windows.forwarded"
NAMESPACE = "default"
ECS_VERSION = "8.17.0"

# EventData that Elastic's pipeline removes once mapped (its "Cleanup" step).
_CLEANUP = (
    "ProcessId", "ParentProcessId", "SourceProcessId", "SourceThreadId", "SourceIp",
    "SourcePort", "SourcePortName", "DestinationIp", "DestinationPort", "DestinationPortName",
    "RuleName", "User", "Initiated", "SourceIsIpv6", "DestinationIsIpv6", "QueryStatus",
    "Archived", "IsExecutable", "QueryResults", "UtcTime", "Hash", "Hashes", "TargetObject",
)  # fmt: skip
_CLEANUP_KEYS = frozenset(_CLEANUP)


def data_stream_name(dataset: str, namespace: str = NAMESPACE) -> str:
    return f"logs-{dataset}-{namespace}"


def _winlog(rec: WinRecord) -> dict[str, Any]:
    # Built key by key, in the order Elastic's documents have them (a put per field cost
    # more than the mapping of a small event).
    winlog: dict[str, Any] = {"event_id": str(rec.event_id)}
    if rec.channel is not None:
        winlog["channel"] = rec.channel
    if rec.computer is not None:
        winlog["computer_name"] = rec.computer
    if rec.provider is not None:
        winlog["provider_name"] = rec.provider
    if rec.provider_guid is not None:
        winlog["provider_guid"] = rec.provider_guid
    if rec.record_id is not None:
        winlog["record_id"] = str(rec.record_id)
    if rec.version is not None:
        winlog["version"] = rec.version
    if rec.opcode is not None:
        winlog["opcode"] = rec.opcode
    if rec.task is not None:
        winlog["task"] = rec.task
    if rec.pid is not None:
        winlog["process"] = {"pid": rec.pid}
    if rec.thread_id is not None:
        process = winlog.get("process")
        if process is None:
            process = winlog["process"] = {}
        process["thread"] = {"id": rec.thread_id}
    if rec.user_sid:
        winlog["user"] = {"identifier": rec.user_sid}
    if rec.user_data:
        winlog["user_data"] = dict(rec.user_data)
    return winlog


def _envelope(rec: WinRecord, dataset: str) -> dict[str, Any]:
    """Fields every Windows event gets, Sysmon or not."""
    event: dict[str, Any] = {"kind": "event", "code": str(rec.event_id), "dataset": dataset}
    host: dict[str, Any] = {"os": {"type": "windows", "family": "windows", "platform": "windows"}}
    doc: dict[str, Any] = {
        "ecs": {"version": ECS_VERSION},
        "event": event,
        "data_stream": {"type": "logs", "dataset": dataset, "namespace": NAMESPACE},
        "host": host,
        "winlog": _winlog(rec),
    }
    if rec.time_created:
        doc["@timestamp"] = rec.time_created
        event["created"] = rec.time_created
    if rec.provider:
        event["provider"] = rec.provider
    if rec.computer:
        host["name"] = rec.computer
    if rec.level:
        doc["log"] = {"level": rec.level}
    if rec.user_sid:
        doc["user"] = {"id": rec.user_sid}
    return doc


def _categorise(doc: dict[str, Any], eid: int) -> None:
    kind = SYSMON_EVENTS.get(eid)
    if kind is None:
        return
    event = doc["event"]
    if kind.category:
        event["category"] = list(kind.category)
    event["type"] = list(kind.type)
    event["action"] = kind.action if isinstance(kind.action, str) else list(kind.action)


_FILE_FLAGS = (("Archived", "sysmon.file.archived"), ("IsExecutable", "sysmon.file.is_executable"))


def _sysmon_extras(doc: dict[str, Any], data: dict[str, str], eid: int) -> None:
    """`rule.name`, `message` (tampering type), `error.code`, `sysmon.file.*`."""
    if "RuleName" in data:
        put(doc, "rule.name", data.pop("RuleName"))
    if eid == 25 and "Type" in data:
        doc["message"] = data.pop("Type")
    if eid == 255 and "ID" in data:
        put(doc, "error.code", data.pop("ID"))
    for key, field in _FILE_FLAGS:
        if key in data:
            flag = data[key].lower()
            if flag in ("true", "false"):
                put(doc, field, flag == "true")
    if "TargetProcessGuid" in data:
        data["TargetProcessGUID"] = data.pop("TargetProcessGuid")


def normalize_sysmon(rec: WinRecord) -> dict[str, Any]:
    """A Sysmon record → its ECS document (windows integration, sysmon_operational)."""
    eid = rec.event_id
    doc = _envelope(rec, SYSMON_DATASET)
    data = dict(rec.event_data)
    utc = parse_utc_time(data["UtcTime"]) if "UtcTime" in data else None
    if utc is not None:
        doc["@timestamp"] = utc
    _categorise(doc, eid)
    _sysmon_extras(doc, data, eid)
    map_hashes(doc, data, eid)
    map_process(doc, data, eid)
    map_file(doc, data, eid)
    if eid == 7:
        map_dll(doc, data)
    map_network(doc, data, eid)
    if eid == 22:
        map_dns(doc, data)
    map_user(doc, data, rec.user_sid)
    map_related_ips(doc)
    map_registry(doc, data, eid)
    for key in _CLEANUP_KEYS.intersection(data):  # what is left is seldom more than a few keys
        del data[key]
    if data:
        doc["winlog"]["event_data"] = data
    return doc


def normalize_generic(rec: WinRecord) -> dict[str, Any]:
    """A non-Sysmon record: envelope fields and its EventData kept under `winlog.event_data`.

    Security events also get `source.ip` from `IpAddress`, as Elastic's security pipeline
    writes it (an IPv4-mapped IPv6 address as its IPv4; `-` and other non-addresses none),
    the EventData value kept."""
    doc = _envelope(rec, FORWARDED_DATASET)
    if rec.event_data:
        doc["winlog"]["event_data"] = dict(rec.event_data)
        if rec.channel == "Security":
            ip = _source_ip(rec.event_data.get("IpAddress"))
            if ip is not None:
                put(doc, "source.ip", ip)
    return doc


def _source_ip(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        addr = ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(addr)


def normalize_record(rec: WinRecord) -> dict[str, Any]:
    return normalize_sysmon(rec) if rec.is_sysmon else normalize_generic(rec)


def to_record(raw: Mapping[str, Any] | str, shape: str = "auto") -> WinRecord:
    """Any supported raw shape (a parsed JSON object, or event XML text) → a `WinRecord`."""
    if isinstance(raw, str):
        return parse_event_xml(raw)
    if shape == "auto":
        found = record_shape(raw)
        if found is None or found == "ecs":
            raise DataError(f"not a raw Windows event record (shape: {found or 'unknown'})")
        shape = found
    if shape == "winlogbeat":
        original = _original_xml(raw)
        if original is not None:
            return parse_event_xml(original)
    adapter = ADAPTERS.get(shape)
    if adapter is None:
        raise DataError(f"no adapter for record shape {shape!r}")
    return adapter(raw)


def _original_xml(raw: Mapping[str, Any]) -> str | None:
    """Agent output that kept only `event.original` (the event XML), no `winlog.event_data`."""
    winlog = raw.get("winlog")
    if isinstance(winlog, Mapping) and winlog.get("event_data"):
        return None
    event = raw.get("event")
    original = event.get("original") if isinstance(event, Mapping) else None
    if isinstance(original, str) and original.lstrip().startswith("<Event"):
        return original
    return None


def to_ecs(raw: Mapping[str, Any] | str, shape: str = "auto") -> dict[str, Any]:
    """A raw Windows / Sysmon record in any supported shape → one ECS document."""
    return normalize_record(to_record(raw, shape))
