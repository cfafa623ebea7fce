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
    kind: str  # the event family, for messages


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
    "QueryStatus": "sysmon.dns.status",
}

_PROCESS_ACCESS = {
    "SourceImage": "process.executable",
    "SourceProcessId": "process.pid",
    "SourceProcessGuid": "process.entity_id",
    "SourceProcessGUID": "process.entity_id",
    "SourceUser": "winlog.event_data.SourceUser",
    "User": "user",
}

_PIPE = {
    "Image": "process.executable",
    "ProcessId": "process.pid",
    "ProcessGuid": "process.entity_id",
    "User": "user",
    "PipeName": "file.name",
}

_DRIVER = {
    "ImageLoaded": "file.path",
    "Hashes": "file.hash",
    "md5": "file.hash.md5",
    "sha1": "file.hash.sha1",
    "sha256": "file.hash.sha256",
    "Imphash": "file.pe.imphash",
    "Signed": "file.code_signature.trusted",
    "Signature": "file.code_signature.subject_name",
    "SignatureStatus": "file.code_signature.status",
}

_STREAM = {**_FILE, "Hash": "file.hash", "Hashes": "file.hash"}

_WMI = {"Destination": "process.executable", "User": "user"}

# Windows event log services (Sigma `service`) → their channel; fields stay in
# winlog.event_data, where Elastic's windows integration and our normaliser keep them.
CHANNELS: dict[str, str] = {
    "security": "Security",
    "system": "System",
    "application": "Application",
    "sysmon": "Microsoft-Windows-Sysmon/Operational",
    "powershell": "Microsoft-Windows-PowerShell/Operational",
    "powershell-classic": "Windows PowerShell",
    "windefend": "Microsoft-Windows-Windows Defender/Operational",
    "codeintegrity-operational": "Microsoft-Windows-CodeIntegrity/Operational",
    "appxdeployment-server": "Microsoft-Windows-AppXDeploymentServer/Operational",
    "firewall-as": "Microsoft-Windows-Windows Firewall With Advanced Security/Firewall",
    "msexchange-management": "MSExchange Management",
    "bits-client": "Microsoft-Windows-Bits-Client/Operational",
    "dns-client": "Microsoft-Windows-DNS Client Events/Operational",
    "taskscheduler": "Microsoft-Windows-TaskScheduler/Operational",
    "ntlm": "Microsoft-Windows-NTLM/Operational",
    "wmi": "Microsoft-Windows-WMI-Activity/Operational",
    "dns-server": "DNS Server",
    "terminalservices-localsessionmanager": (
        "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational"
    ),
    "smbclient-security": "Microsoft-Windows-SmbClient/Security",
    "openssh": "OpenSSH/Operational",
    "lsa-server": "Microsoft-Windows-LSA/Operational",
    "shell-core": "Microsoft-Windows-Shell-Core/Operational",
    "driver-framework": "Microsoft-Windows-DriverFrameworks-UserMode/Operational",
}

# Fields every Windows event has outside its EventData.
ENVELOPE = {
    "EventID": "event.code",
    "Provider_Name": "winlog.provider_name",
    "Channel": "winlog.channel",
    "Computer": "host.name",
}

# Elastic's ScriptBlockText lands in powershell.file.*; our normaliser keeps EventData.
_PS_SCRIPT = {
    "ScriptBlockText": "powershell.file.script_block_text|winlog.event_data.ScriptBlockText",
    "Path": "file.path|winlog.event_data.Path",
}

# EventData fields the normaliser (like Elastic's pipeline) drops: no field holds them.
DROPPED = frozenset(
    {"QueryResults", "UtcTime", "SourcePortName", "DestinationPortName", "Archived",
     "IsExecutable"}
)  # fmt: skip

_PS_CHANNEL = 'winlog.channel : "Microsoft-Windows-PowerShell/Operational"'

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
    "process_access": Source("process", 'event.code == "10"', _PROCESS_ACCESS, "process"),
    "create_remote_thread": Source("process", 'event.code == "8"', _PROCESS_ACCESS, "process"),
    "raw_access_thread": Source("process", 'event.code == "9"', _PIPE, "process"),
    "process_tampering": Source("process", 'event.code == "25"', _PIPE, "process"),
    "pipe_created": Source("file", 'event.code in ("17", "18")', _PIPE, "file"),
    "driver_load": Source("driver", None, _DRIVER, "driver"),
    "file_delete": Source("file", 'event.type == "deletion"', _FILE, "file"),
    "create_stream_hash": Source("file", 'event.code == "15"', _STREAM, "file"),
    "wmi_event": Source("process", 'event.code in ("19", "20", "21")', _WMI, "process"),
    "ps_script": Source("any", f'{_PS_CHANNEL} and event.code == "4104"', _PS_SCRIPT, "ps"),
    "ps_module": Source("any", f'{_PS_CHANNEL} and event.code == "4103"', {}, "ps"),
}  # fmt: skip

# ECS fields that hold numbers, booleans or IP addresses (compared with ==, not `:`).
NUMERIC_FIELDS = frozenset({"process.pid", "process.parent.pid", "source.port", "destination.port"})
BOOLEAN_FIELDS = frozenset({"file.code_signature.trusted"})
IP_FIELDS = frozenset({"source.ip", "destination.ip"})
# EventData text that Elastic's security pipeline (and our normaliser) also writes as an IP
# field: a `cidr` test uses that field (the text keeps values such as `-` for string tests).
IP_COPIES = {"winlog.event_data.IpAddress": "source.ip"}

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


def service_source(service: str) -> Source | None:
    """A Windows event log service: its channel, every field in winlog.event_data."""
    channel = CHANNELS.get(service)
    if channel is None:
        return None
    escaped = channel.replace("\\", "\\\\").replace('"', '\\"')
    return Source("any", f'winlog.channel : "{escaped}"', {}, "service")


def field_for(source: Source, name: str) -> tuple[str, ...]:
    """The ECS field(s) for Sigma field `name` in this log source (alternatives: any one)."""
    mapped = source.fields.get(name) or ENVELOPE.get(name)
    if mapped is not None:
        return tuple(mapped.split("|"))
    if name in DROPPED:
        raise KeyError(name)
    return (f"winlog.event_data.{name}",)
