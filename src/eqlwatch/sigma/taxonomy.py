"""Sigma's Windows taxonomy → ECS, as eqlwatch's Sysmon normaliser and Elastic's
integrations (windows / Elastic Defend) write the events.

Facts, not code: which EQL event category and filter stands for a Sigma log source, and
which ECS field holds a Sigma field. A field no table names falls back to
`winlog.event_data.<Field>`, where Elastic's windows integration (and our normaliser)
keeps the Sysmon EventData it does not rename. Never `*.caseless`: those multi-fields
exist only in an index mapping, not in the events the embedded engine reads.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Source:
    """An EQL event category and the filter that narrows it to the Sigma log source."""

    category: str
    filter: str | None
    fields: dict[str, str]
    # Sigma fields whose values our mapping rewrites (see values.py), by ECS field.
    kind: str


_PROCESS = {
    "Image": "process.executable",
    "CommandLine": "process.command_line",
    "ParentImage": "process.parent.executable",
    "ParentCommandLine": "process.parent.command_line",
    "OriginalFileName": "process.pe.original_file_name",
    "Description": "process.pe.description",
    "Product": "process.pe.product",
    "Company": "process.pe.company",
    "FileVersion": "process.pe.file_version",
    "CurrentDirectory": "process.working_directory",
    "ProcessId": "process.pid",
    "ParentProcessId": "process.parent.pid",
    "ProcessGuid": "process.entity_id",
    "ParentProcessGuid": "process.parent.entity_id",
    "Hashes": "process.hash",
    "md5": "process.hash.md5",
    "sha1": "process.hash.sha1",
    "sha256": "process.hash.sha256",
    "Imphash": "process.pe.imphash",
    "User": "user",
}

_NETWORK = {
    "Image": "process.executable",
    "ProcessId": "process.pid",
    "ProcessGuid": "process.entity_id",
    "User": "user",
    "Protocol": "network.transport",
    "Initiated": "network.direction",
    "SourceIsIpv6": "network.type",
    "DestinationIsIpv6": "network.type",
    "SourceIp": "source.ip",
    "SourceHostname": "source.domain",
    "SourcePort": "source.port",
    "DestinationIp": "destination.ip",
    "DestinationHostname": "destination.domain",
    "DestinationPort": "destination.port",
}

_IMAGE_LOAD = {
    "Image": "process.executable",
    "ProcessId": "process.pid",
    "ProcessGuid": "process.entity_id",
    "User": "user",
    "ImageLoaded": "dll.path",
    "OriginalFileName": "dll.pe.original_file_name",
    "Description": "file.pe.description",
    "Product": "file.pe.product",
    "Company": "file.pe.company",
    "FileVersion": "file.pe.file_version",
    "Signed": "file.code_signature.trusted",
    "Signature": "file.code_signature.subject_name",
    "SignatureStatus": "file.code_signature.status",
    "Hashes": "file.hash",
    "md5": "file.hash.md5",
    "sha1": "file.hash.sha1",
    "sha256": "file.hash.sha256",
    "Imphash": "file.pe.imphash",
}

_FILE = {
    "Image": "process.executable",
    "ProcessId": "process.pid",
    "ProcessGuid": "process.entity_id",
    "User": "user",
    "TargetFilename": "file.path",
}

_REGISTRY = {
    "Image": "process.executable",
    "ProcessId": "process.pid",
    "ProcessGuid": "process.entity_id",
    "User": "user",
    "TargetObject": "registry.path",
    "Details": "registry.data.strings",
}

_DNS = {
    "Image": "process.executable",
    "ProcessId": "process.pid",
    "ProcessGuid": "process.entity_id",
    "User": "user",
    "QueryName": "dns.question.name",
}

_REG_ACTION = 'event.action : "RegistryEvent (Object create and delete)"'

SOURCES: dict[str, Source] = {
    "process_creation": Source("process", 'event.type == "start"', _PROCESS, "process"),
    "network_connection": Source("network", "dns.question.name == null", _NETWORK, "network"),
    "dns_query": Source("network", "dns.question.name != null", _DNS, "dns"),
    "dns": Source("network", "dns.question.name != null", _DNS, "dns"),
    "image_load": Source("library", None, _IMAGE_LOAD, "library"),
    "file_event": Source("file", 'event.type == "creation"', _FILE, "file"),
    "registry_event": Source("registry", None, _REGISTRY, "registry"),
    "registry_add": Source("registry", _REG_ACTION, _REGISTRY, "registry"),
    "registry_delete": Source("registry", _REG_ACTION, _REGISTRY, "registry"),
    "registry_set": Source(
        "registry", 'event.action : ("RegistryEvent (Value Set)", "modification")', _REGISTRY,
        "registry",
    ),
}  # fmt: skip

# ECS fields that hold numbers, booleans or IP addresses (compared with ==, not `:`).
NUMERIC_FIELDS = frozenset({"process.pid", "process.parent.pid", "source.port", "destination.port"})
BOOLEAN_FIELDS = frozenset({"file.code_signature.trusted"})
IP_FIELDS = frozenset({"source.ip", "destination.ip"})

# MITRE ATT&CK tactics as Sigma tags name them: (id, name). Public facts.
TACTICS: dict[str, tuple[str, str]] = {
    "reconnaissance": ("TA0043", "Reconnaissance"),
    "resource_development": ("TA0042", "Resource Development"),
    "initial_access": ("TA0001", "Initial Access"),
    "execution": ("TA0002", "Execution"),
    "persistence": ("TA0003", "Persistence"),
    "privilege_escalation": ("TA0004", "Privilege Escalation"),
    "defense_evasion": ("TA0005", "Defense Evasion"),
    "credential_access": ("TA0006", "Credential Access"),
    "discovery": ("TA0007", "Discovery"),
    "lateral_movement": ("TA0008", "Lateral Movement"),
    "collection": ("TA0009", "Collection"),
    "command_and_control": ("TA0011", "Command and Control"),
    "exfiltration": ("TA0010", "Exfiltration"),
    "impact": ("TA0040", "Impact"),
}

# Sigma level → detection-rules severity and Elastic's customary risk score.
LEVELS: dict[str, tuple[str, int]] = {
    "informational": ("low", 21),
    "low": ("low", 21),
    "medium": ("medium", 47),
    "high": ("high", 73),
    "critical": ("critical", 99),
}

WINDOWS_INDEX = ("logs-endpoint.events.*", "logs-windows.sysmon_operational-*", "winlogbeat-*")


def field_for(source: Source, name: str) -> str:
    """The ECS field for Sigma field `name` in this log source."""
    mapped = source.fields.get(name)
    if mapped is not None:
        return mapped
    return f"winlog.event_data.{name}"
