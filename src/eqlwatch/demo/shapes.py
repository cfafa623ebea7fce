"""Event builders in the two ECS shapes users have: Elastic Defend and Sysmon via Elastic's
windows integration. Field names and value shapes follow those producers' documented output;
every document is labelled synthetic.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

SYNTHETIC = {"labels": {"synthetic": "true"}, "tags": ["synthetic", "eqlwatch-demo"]}


def iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass(frozen=True, slots=True)
class Host:
    name: str
    ip: str
    os_version: str
    shape: str  # "defend" or "sysmon"


@dataclass(frozen=True, slots=True)
class Proc:
    """A running process: enough to emit its start, its connections and its module loads."""

    pid: int
    entity_id: str
    executable: str
    command_line: str
    args: tuple[str, ...]
    user: str
    parent: Proc | None = None
    original_file_name: str | None = None
    signed_by: str | None = "Microsoft Windows"

    @property
    def name(self) -> str:
        return self.executable.rsplit("\\", 1)[-1]


def sha256_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _process_fields(p: Proc) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "pid": p.pid,
        "entity_id": p.entity_id,
        "executable": p.executable,
        "name": p.name,
        "command_line": p.command_line,
        "args": list(p.args),
        "args_count": len(p.args),
        "working_directory": "C:\\Windows\\system32\\",
        "hash": {"sha256": sha256_of(p.executable.lower())},
        "pe": {"original_file_name": p.original_file_name or p.name.upper()},
    }
    if p.parent is not None:
        fields["parent"] = {
            "pid": p.parent.pid,
            "entity_id": p.parent.entity_id,
            "executable": p.parent.executable,
            "name": p.parent.name,
            "command_line": p.parent.command_line,
            "args": list(p.parent.args),
        }
    return fields


def _base(host: Host, ts: datetime, user: str) -> dict[str, Any]:
    domain, _, name = user.rpartition("\\")
    return {
        "@timestamp": iso(ts),
        "host": {
            "name": host.name,
            "hostname": host.name,
            "ip": [host.ip],
            "os": {"family": "windows", "platform": "windows", "version": host.os_version},
        },
        "user": {"name": name, "domain": domain or host.name},
        "ecs": {"version": "8.11.0"},
        **SYNTHETIC,
    }


def process_start(host: Host, ts: datetime, p: Proc) -> dict[str, Any]:
    doc = _base(host, ts, p.user)
    proc = _process_fields(p)
    if host.shape == "defend":
        proc["code_signature"] = _signature(p.signed_by)
        doc |= _defend_event("process", ["process"], ["start"], "start")
        doc["process"] = proc
    else:
        doc |= _sysmon_event(1, "Process Create (rule: ProcessCreate)", ["process"], ["start"])
        doc["process"] = proc
    return doc


def network_connection(
    host: Host, ts: datetime, p: Proc, dst_ip: str, dst_port: int, src_port: int
) -> dict[str, Any]:
    doc = _base(host, ts, p.user)
    net: dict[str, dict[str, Any]] = {
        "source": {"ip": host.ip, "port": src_port},
        "destination": {"ip": dst_ip, "port": dst_port},
        "network": {"transport": "tcp", "direction": "egress", "type": "ipv4"},
        "process": {
            "pid": p.pid,
            "entity_id": p.entity_id,
            "executable": p.executable,
            "name": p.name,
        },
    }
    if host.shape == "defend":
        doc |= _defend_event("network", ["network"], ["start"], "connection_attempted")
    else:
        doc |= _sysmon_event(
            3,
            "Network connection detected (rule: NetworkConnect)",
            ["network"],
            ["connection", "start", "protocol"],
        )
        net["network"]["protocol"] = "http" if dst_port == 80 else "https"
    return doc | net


def library_load(
    host: Host, ts: datetime, p: Proc, dll_path: str, signed_by: str | None
) -> dict[str, Any]:
    doc = _base(host, ts, p.user)
    dll: dict[str, Any] = {
        "path": dll_path,
        "name": dll_path.rsplit("\\", 1)[-1],
        "hash": {"sha256": sha256_of(dll_path.lower())},
        "code_signature": _signature(signed_by),
    }
    proc = {"pid": p.pid, "entity_id": p.entity_id, "executable": p.executable, "name": p.name}
    if host.shape == "defend":
        doc |= _defend_event("library", ["library"], ["start"], "load")
    else:
        doc |= _sysmon_event(
            7, "Image loaded (rule: ImageLoad)", ["process", "library"], ["change"]
        )
        dll["code_signature"]["status"] = "Valid" if signed_by else "Unavailable"
    return doc | {"dll": dll, "process": proc}


def dns_query(host: Host, ts: datetime, p: Proc, name: str, answer: str) -> dict[str, Any]:
    doc = _base(host, ts, p.user)
    if host.shape == "defend":
        doc |= _defend_event("network", ["network"], ["protocol", "info"], "lookup_result")
    else:
        doc |= _sysmon_event(22, "Dns query (rule: DnsQuery)", ["network"], ["protocol", "info"])
    return doc | {
        "dns": {"question": {"name": name}, "resolved_ip": [answer]},
        "process": {
            "pid": p.pid,
            "entity_id": p.entity_id,
            "executable": p.executable,
            "name": p.name,
        },
    }


def _defend_event(
    dataset: str, category: list[str], types: list[str], action: str
) -> dict[str, Any]:
    """The event/agent/data_stream fields Elastic Defend writes for one event dataset."""
    full = f"endpoint.events.{dataset}"
    return {
        "event": {
            "kind": "event",
            "category": category,
            "type": types,
            "action": action,
            "dataset": full,
            "module": "endpoint",
        },
        "agent": {"type": "endpoint"},
        "data_stream": {"type": "logs", "dataset": full, "namespace": "default"},
    }


def _signature(signed_by: str | None) -> dict[str, Any]:
    if signed_by is None:
        return {"exists": False, "trusted": False, "status": "errorCode_endpoint: 0x800b0100"}
    return {"exists": True, "trusted": True, "subject_name": signed_by, "status": "trusted"}


def _sysmon_event(code: int, action: str, category: list[str], types: list[str]) -> dict[str, Any]:
    return {
        "event": {
            "kind": "event",
            "category": category,
            "type": types,
            "code": str(code),
            "action": action,
            "module": "sysmon",
            "provider": "Microsoft-Windows-Sysmon",
            "dataset": "windows.sysmon_operational",
        },
        "winlog": {
            "channel": "Microsoft-Windows-Sysmon/Operational",
            "event_id": str(code),
            "provider_name": "Microsoft-Windows-Sysmon",
        },
        "agent": {"type": "filebeat"},
        "data_stream": {
            "type": "logs",
            "dataset": "windows.sysmon_operational",
            "namespace": "default",
        },
    }
