"""Adapters from each collector's record shape to a `WinRecord`.

Pure functions over already-parsed records (dicts, or the XML text of one event). Which
shape a record has is told by `record_shape`; a record that is not a Windows event raises
`DataError` naming the missing field, and the reader reports it with its line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from eqlwatch.errors import DataError, Location
from eqlwatch.sysmon.record import SYSMON_CHANNEL, SYSMON_PROVIDER, WinRecord
from eqlwatch.sysmon.tables import LOG_LEVELS
from eqlwatch.sysmon.values import (
    canonical_guid,
    clean_event_data,
    parse_iso_time,
    text,
    to_int,
)

SHAPES = ("evtx-json", "winlogbeat", "nxlog", "eventdata-array", "ecs")

# NXLog's own (non-EventData) keys for im_msvistalog records.
_NXLOG_META = frozenset(
    {
        "EventTime", "Hostname", "Keywords", "EventType", "SeverityValue", "Severity",
        "EventID", "SourceName", "ProviderGuid", "Version", "Task", "TaskValue", "OpcodeValue",
        "Opcode", "RecordNumber", "ActivityID", "RelatedActivityID", "ExecutionProcessID",
        "ExecutionThreadID", "Channel", "Domain", "AccountName", "UserID", "AccountType",
        "Category", "Message", "EventReceivedTime", "SourceModuleName", "SourceModuleType",
        "Computer", "Level", "LevelValue",
    }
)  # fmt: skip


_ELEMENT_META = frozenset({"#attributes"})
_EVENTDATA_IDS = frozenset({"EventId", "EventID"})


def _mapping_like(node: Any) -> bool:
    """A JSON object (a dict nearly always: checked first, the ABC check is slower)."""
    return type(node) is dict or isinstance(node, Mapping)


def _attr(node: Any, name: str) -> Any:
    return _attrs(node).get(name)


_NO_ATTRS: Mapping[str, Any] = {}


def _attrs(node: Any) -> Mapping[str, Any]:
    """The `#attributes` object of an XML element (empty when it has none)."""
    if type(node) is dict or (node is not None and isinstance(node, Mapping)):
        attrs = node.get("#attributes")
        if type(attrs) is dict or (attrs is not None and isinstance(attrs, Mapping)):
            return attrs
    return _NO_ATTRS


def _node_text(node: Any) -> Any:
    if type(node) is str:
        return node
    return node.get("#text") if _mapping_like(node) else node


def _level(value: Any) -> str | None:
    n = to_int(value)
    if n is not None:
        return LOG_LEVELS.get(n)
    s = text(value)
    return s.lower() if s else None


def _opcode(value: Any) -> str | None:
    n = to_int(value)
    if n is not None:
        return "Info" if n == 0 else None
    return text(value)


def _require_event_id(value: Any, field: str) -> int:
    n = to_int(_node_text(value))
    if n is None:
        raise DataError("record has no usable event id", location=Location(field=field))
    return n


def _flatten_event_data(node: Any) -> dict[str, Any]:
    """EventData as named values; unnamed `Data` items become param1..N as Winlogbeat does."""
    if not isinstance(node, Mapping):
        return {}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "#attributes":
            continue
        if type(value) is str:
            out[key] = value
        elif key == "Data" and not isinstance(value, Mapping | str):
            items = value if isinstance(value, list) else [value]
            for i, item in enumerate(items, 1):
                out[f"param{i}"] = _node_text(item)
        else:
            out[key] = _node_text(value)
    return out


def _event_data(node: Any) -> dict[str, str]:
    """`EventData` flattened and cleaned; in one pass when it holds no unnamed `Data`."""
    if type(node) is dict and "Data" not in node:
        return clean_event_data(node, skip=_ELEMENT_META, element=True)
    return clean_event_data(_flatten_event_data(node))


def from_evtx_json(obj: Mapping[str, Any]) -> WinRecord:
    """evtx-rs `records_json()` shape: `{"Event": {...}}` or the Event object itself."""
    event = obj.get("Event", obj)
    system = event.get("System") if _mapping_like(event) else None
    if type(system) is not dict and not isinstance(system, Mapping):
        raise DataError("no System block", location=Location(field="System"))
    provider = _attrs(system.get("Provider"))
    execution = _attrs(system.get("Execution"))
    return WinRecord(
        event_id=_require_event_id(system.get("EventID"), "System.EventID"),
        event_data=_event_data(event.get("EventData")),
        provider=text(provider.get("Name")),
        provider_guid=_guid(provider.get("Guid")),
        channel=text(system.get("Channel")),
        computer=text(system.get("Computer")),
        record_id=to_int(system.get("EventRecordID")),
        time_created=_time(_attr(system.get("TimeCreated"), "SystemTime")),
        level=_level(system.get("Level")),
        version=to_int(system.get("Version")),
        opcode=_opcode(system.get("Opcode")),
        pid=to_int(execution.get("ProcessID")),
        thread_id=to_int(execution.get("ThreadID")),
        user_sid=text(_attr(system.get("Security"), "UserID")),
        user_data=_user_data(event.get("UserData")),
    )


def _user_data(node: Any) -> Mapping[str, Any] | None:
    if node is None or not isinstance(node, Mapping) or not node:
        return None
    inner = [v for k, v in node.items() if k != "#attributes"]
    if len(inner) == 1 and isinstance(inner[0], Mapping):
        return {k: v for k, v in inner[0].items() if k != "#attributes"}
    return dict(node)


# Provider GUIDs seen so far, canonical: a few distinct ones per file. Bounded (input text).
_GUIDS: dict[str, str] = {}
_GUIDS_KEPT = 1024


def _guid(value: Any) -> str | None:
    s = text(value)
    if not s:
        return None
    known = _GUIDS.get(s)
    if known is None:
        known = canonical_guid(s)
        if len(_GUIDS) < _GUIDS_KEPT:
            _GUIDS[s] = known
    return known


def _time(value: Any) -> str | None:
    s = text(value)
    return parse_iso_time(s) if s else None


def from_winlogbeat(obj: Mapping[str, Any]) -> WinRecord:
    """Winlogbeat / Elastic Agent output before the ingest pipeline (`winlog.event_data`)."""
    winlog = obj.get("winlog")
    if not isinstance(winlog, Mapping):
        raise DataError("no winlog object", location=Location(field="winlog"))
    event_id = winlog.get("event_id", _get(obj, "event", "code"))
    log_level = _get(obj, "log", "level")
    return WinRecord(
        event_id=_require_event_id(event_id, "winlog.event_id"),
        event_data=clean_event_data(_mapping(winlog.get("event_data"))),
        provider=text(winlog.get("provider_name")) or text(_get(obj, "event", "provider")),
        provider_guid=_guid(winlog.get("provider_guid")),
        channel=text(winlog.get("channel")),
        computer=text(winlog.get("computer_name")) or text(_get(obj, "host", "name")),
        record_id=to_int(winlog.get("record_id")),
        time_created=_time(winlog.get("time_created") or obj.get("@timestamp")),
        level=_level(winlog.get("level") or log_level),
        version=to_int(winlog.get("version")),
        opcode=_opcode(winlog.get("opcode")),
        task=text(winlog.get("task")),
        pid=to_int(_get(winlog, "process", "pid")),
        thread_id=to_int(_get(winlog, "process", "thread", "id")),
        user_sid=text(_get(winlog, "user", "identifier")),
        user_data=_mapping(winlog.get("user_data")) or None,
    )


def from_nxlog(obj: Mapping[str, Any]) -> WinRecord:
    """NXLog im_msvistalog JSON: metadata and EventData keys side by side at the top."""
    return WinRecord(
        event_id=_require_event_id(obj.get("EventID"), "EventID"),
        event_data=clean_event_data(obj, skip=_NXLOG_META),
        provider=text(obj.get("SourceName")),
        provider_guid=_guid(obj.get("ProviderGuid")),
        channel=text(obj.get("Channel")),
        computer=text(obj.get("Hostname")) or text(obj.get("Computer")),
        record_id=to_int(obj.get("RecordNumber")),
        time_created=_time(obj.get("EventTime")),
        level=_level(obj.get("LevelValue", obj.get("Level"))),
        version=to_int(obj.get("Version")),
        opcode=_opcode(obj.get("OpcodeValue", obj.get("Opcode"))),
        task=text(obj.get("Task")) if to_int(obj.get("Task")) is None else None,
        pid=to_int(obj.get("ExecutionProcessID")),
        thread_id=to_int(obj.get("ExecutionThreadID")),
        user_sid=text(obj.get("UserID")),
    )


def from_eventdata(obj: Mapping[str, Any]) -> WinRecord:
    """A bare Sysmon EventData object plus `EventId`/`EventID` (no System block)."""
    key = "EventId" if "EventId" in obj else "EventID"
    return WinRecord(
        event_id=_require_event_id(obj.get(key), key),
        event_data=clean_event_data(obj, skip=_EVENTDATA_IDS),
        provider=SYSMON_PROVIDER,
        channel=SYSMON_CHANNEL,
    )


def _get(obj: Any, *names: str) -> Any:
    for name in names:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(name)
    return obj


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


ADAPTERS: dict[str, Callable[[Mapping[str, Any]], WinRecord]] = {
    "evtx-json": from_evtx_json,
    "winlogbeat": from_winlogbeat,
    "nxlog": from_nxlog,
    "eventdata-array": from_eventdata,
}


def record_shape(obj: Mapping[str, Any]) -> str | None:
    """Which shape a parsed JSON record has, or None when it is no Windows event."""
    event = obj.get("Event")
    if isinstance(obj.get("System"), Mapping) or (
        isinstance(event, Mapping) and isinstance(event.get("System"), Mapping)
    ):
        return "evtx-json"
    winlog = obj.get("winlog")
    event_obj = obj.get("event")
    if isinstance(event_obj, Mapping) and ("category" in event_obj or "type" in event_obj):
        return "ecs"
    if isinstance(winlog, Mapping):
        return "winlogbeat"
    if "EventID" in obj and any(k in obj for k in ("Hostname", "EventTime", "SourceName")):
        return "nxlog"
    if "EventId" in obj or "EventID" in obj:
        return "eventdata-array"
    return None
