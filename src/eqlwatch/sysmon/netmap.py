"""Sysmon EventData → ECS: network connections, DNS queries and registry changes.

Same contract as `mapping`: read the working `data`, write `doc`, pop what Elastic's
pipeline renames away.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import communityid
from communityid.error import FlowTupleError
from publicsuffixlist import PublicSuffixList

from eqlwatch.sysmon.tables import DNS_STATUS, DNS_TYPES, REGISTRY_EVENTS, REGISTRY_HIVES
from eqlwatch.sysmon.values import append_unique, get, put, to_int, valid_ip

Doc = dict[str, Any]
Data = dict[str, str]

_QWORD = re.compile(r"(?i)QWORD \((0x[0-9A-F]{8})-(0x[0-9A-F]{8})\)")
_DWORD = re.compile(r"(?i)DWORD \((0x[0-9A-F]{8})\)")
_TRANSPORTS = {"tcp": 6, "udp": 17}


# Per side: the EventData keys read and the ECS fields written.
_ENDPOINTS = tuple(
    (
        f"{prefix}Ip",
        f"{prefix}Hostname",
        f"{prefix}Port",
        f"{side}.ip",
        f"{side}.domain",
        f"{side}.port",
    )
    for side, prefix in (("source", "Source"), ("destination", "Destination"))
)


def _endpoint(doc: Doc, data: Data, keys: tuple[str, str, str, str, str, str]) -> None:
    ip_key, host_key, port_key, ip_field, domain_field, port_field = keys
    ip = valid_ip(data.get(ip_key, ""))
    if ip is not None:
        put(doc, ip_field, ip)
    host = data.pop(host_key, None)
    if host is not None:
        put(doc, domain_field, host)
    port = to_int(data.get(port_key))
    if port is not None:
        put(doc, port_field, port)


def map_network(doc: Doc, data: Data, eid: int) -> None:
    """`network.*`, `source.*`, `destination.*`, `network.community_id`, `related.ip`."""
    if "Protocol" in data:
        put(doc, "network.transport", data.pop("Protocol"))
    if eid == 22:
        put(doc, "network.protocol", "dns")
    else:
        proto = data.get("DestinationPortName") or data.get("SourcePortName")
        if proto is not None:
            put(doc, "network.protocol", proto)
    for keys in _ENDPOINTS:
        _endpoint(doc, data, keys)
    initiated = data.get("Initiated")
    if initiated in ("true", "false"):
        put(doc, "network.direction", "egress" if initiated == "true" else "ingress")
    v6 = data.get("SourceIsIpv6")
    if v6 in ("true", "false"):
        put(doc, "network.type", "ipv6" if v6 == "true" else "ipv4")
    _community_id(doc)


def _community_id(doc: Doc) -> None:
    if "network" not in doc or "source" not in doc or "destination" not in doc:
        return  # no transport, or an address or port missing
    proto = _TRANSPORTS.get(str(get(doc, "network.transport") or "").lower())
    src, dst = get(doc, "source.ip"), get(doc, "destination.ip")
    sport, dport = get(doc, "source.port"), get(doc, "destination.port")
    if proto is None or None in (src, dst, sport, dport):
        return
    try:
        flow = communityid.FlowTuple(proto, src, dst, sport, dport)
    except FlowTupleError:
        return  # a port out of range (a damaged record): no flow id, the rest kept
    put(doc, "network.community_id", communityid.CommunityID().calc(flow))


@cache
def _psl() -> PublicSuffixList:
    return PublicSuffixList()


def _question_parts(doc: Doc, name: str) -> None:
    """`dns.question.registered_domain` / `subdomain` / `top_level_domain` (public suffix list)."""
    host = name.rstrip(".").lower()
    registered = _psl().privatesuffix(host)
    suffix = _psl().publicsuffix(host)
    if registered is None or suffix is None:
        return
    put(doc, "dns.question.registered_domain", registered)
    put(doc, "dns.question.top_level_domain", suffix)
    if host != registered:
        put(doc, "dns.question.subdomain", host[: -len(registered) - 1])


def map_dns(doc: Doc, data: Data) -> None:
    """Sysmon 22: the question, the answers from `QueryResults`, resolved IPs, status."""
    name = data.pop("QueryName", None)
    if name is not None:
        put(doc, "dns.question.name", name)
    answers: list[dict[str, str]] = []
    ips: list[str] = []
    hosts: list[str] = []
    for answer in data.get("QueryResults", "").split(";"):
        if not answer:
            continue
        if answer.startswith("type:"):
            parts = answer.split()
            entry = {"type": DNS_TYPES.get(parts[1], parts[1])} if len(parts) > 1 else {}
            if len(parts) == 3:
                entry["data"] = parts[2]
                hosts.append(parts[2])
            if entry:
                answers.append(entry)
            continue
        ip = valid_ip(answer.replace("::ffff:", ""))
        if ip is not None:
            ips.append(ip)
            answers.append({"type": "AAAA" if ":" in ip else "A", "data": ip})
    if answers:
        put(doc, "dns.answers", answers)
    if ips:
        put(doc, "dns.resolved_ip", ips)
    append_unique(doc, "related.hosts", hosts)
    if name is not None:
        _question_parts(doc, name)
        append_unique(doc, "related.hosts", [name])
    append_unique(doc, "related.ip", ips)
    status = data.get("QueryStatus")
    if status is not None:
        put(doc, "sysmon.dns.status", DNS_STATUS.get(status, status))


def _registry_data(details: str) -> tuple[str, str]:
    m = _QWORD.fullmatch(details)
    if m is not None:
        return str((int(m.group(1), 16) << 32) + int(m.group(2), 16)), "SZ_QWORD"
    m = _DWORD.fullmatch(details)
    if m is not None:
        return str(int(m.group(1), 16)), "SZ_DWORD"
    if details == "Binary Data":
        return details, "REG_BINARY"
    return details, "REG_SZ"


def map_registry(doc: Doc, data: Data, eid: int) -> None:
    """Sysmon 12/13/14: `registry.path/hive/key/value` and `registry.data.*` from Details."""
    path = data.get("TargetObject")
    if eid not in REGISTRY_EVENTS or not path:
        return
    put(doc, "registry.path", path)
    tokens = path.split("\\")
    hive = REGISTRY_HIVES.get(tokens[0])
    if hive is not None:
        put(doc, "registry.hive", hive)
        if len(tokens) > 1:
            put(doc, "registry.key", "\\".join(tokens[1:]))
    put(doc, "registry.value", tokens[-1])
    details = data.pop("Details", None)
    if details:
        value, kind = _registry_data(details)
        put(doc, "registry.data.strings", [value])
        put(doc, "registry.data.type", kind)


def map_related_ips(doc: Doc) -> None:
    if "source" not in doc and "destination" not in doc:
        return  # no address to add
    ips = [ip for ip in (get(doc, "source.ip"), get(doc, "destination.ip")) if ip]
    append_unique(doc, "related.ip", ips)
