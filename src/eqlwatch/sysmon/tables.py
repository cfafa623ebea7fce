"""Lookup tables from Elastic's windows integration (sysmon_operational pipeline).

Facts, not code: the per-event-id categorisation, DNS record types and query statuses,
and registry hive abbreviations, as that pipeline defines them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EventKind:
    """`event.category` / `event.type` / `event.action` for one Sysmon event id."""

    category: tuple[str, ...]
    type: tuple[str, ...]
    action: str | tuple[str, ...]


def _k(
    category: tuple[str, ...], type_: tuple[str, ...], action: str | tuple[str, ...]
) -> EventKind:
    return EventKind(category, type_, action)


SYSMON_EVENTS: dict[int, EventKind] = {
    1: _k(("process",), ("start",), "Process creation"),
    2: _k(("file",), ("change",), "A process changed a file creation time"),
    3: _k(("network",), ("start", "connection", "protocol"), "Network connection"),
    4: _k(("process",), ("change",), "Sysmon service state changed"),
    5: _k(("process",), ("end",), "Process terminated"),
    6: _k(("driver",), ("start",), "Driver loaded"),
    # The integration adds the `library` category and the `load` action for image loads.
    7: _k(("process", "library"), ("change", "start"), ("Image loaded", "load")),
    8: _k(("process",), ("change",), "CreateRemoteThread"),
    9: _k(("process",), ("access",), "RawAccessRead"),
    10: _k(("process",), ("access",), "ProcessAccess"),
    11: _k(("file",), ("creation",), "FileCreate"),
    12: _k(("configuration", "registry"), ("change",), "RegistryEvent (Object create and delete)"),
    13: _k(("configuration", "registry"), ("change",), "RegistryEvent (Value Set)"),
    14: _k(("configuration", "registry"), ("change",), "RegistryEvent (Key and Value Rename)"),
    15: _k(("file",), ("access",), "FileCreateStreamHash"),
    16: _k(("configuration",), ("change",), "ServiceConfigurationChange"),
    17: _k(("file",), ("creation",), "PipeEvent (Pipe Created)"),
    18: _k(("file",), ("access",), "PipeEvent (Pipe Connected)"),
    19: _k(("process",), ("creation",), "WmiEvent (WmiEventFilter activity detected)"),
    20: _k(("process",), ("creation",), "WmiEvent (WmiEventConsumer activity detected)"),
    21: _k(("process",), ("access",), "WmiEvent (WmiEventConsumerToFilter activity detected)"),
    22: _k(("network",), ("connection", "protocol", "info"), "DNSEvent (DNS query)"),
    23: _k(("file",), ("deletion",), "FileDelete (File Delete archived)"),
    24: _k((), ("change",), "ClipboardChange (New content in the clipboard)"),
    25: _k(("process",), ("change",), "ProcessTampering (Process image change)"),
    26: _k(("file",), ("deletion",), "FileDeleteDetected (File Delete logged)"),
    27: _k(("file",), ("creation", "denied"), "FileBlockExecutable"),
    28: _k(("file",), ("deletion", "denied"), "FileBlockShredding"),
    29: _k(("file",), ("creation",), "FileExecutableDetected"),
    255: _k(("process",), ("error",), "Error"),
}

# Which event ids put the `Hashes` of the event on `process.hash` and which on `file.hash`.
PROCESS_HASH_EVENTS = frozenset({1, 23, 24, 25})
FILE_HASH_EVENTS = frozenset({6, 7, 15, 26, 29})
REGISTRY_EVENTS = frozenset({12, 13, 14})

LOG_LEVELS: dict[int, str] = {
    0: "information",
    1: "critical",
    2: "error",
    3: "warning",
    4: "information",
    5: "verbose",
}

REGISTRY_HIVES: dict[str, str] = {
    "HKEY_CLASSES_ROOT": "HKCR",
    "HKCR": "HKCR",
    "HKEY_CURRENT_CONFIG": "HKCC",
    "HKCC": "HKCC",
    "HKEY_CURRENT_USER": "HKCU",
    "HKCU": "HKCU",
    "HKEY_DYN_DATA": "HKDD",
    "HKDD": "HKDD",
    "HKEY_LOCAL_MACHINE": "HKLM",
    "HKLM": "HKLM",
    "HKEY_PERFORMANCE_DATA": "HKPD",
    "HKPD": "HKPD",
    "HKEY_USERS": "HKU",
    "HKU": "HKU",
}

DNS_TYPES: dict[str, str] = {
    "1": "A", "2": "NS", "3": "MD", "4": "MF", "5": "CNAME", "6": "SOA", "7": "MB", "8": "MG",
    "9": "MR", "10": "NULL", "11": "WKS", "12": "PTR", "13": "HINFO", "14": "MINFO", "15": "MX",
    "16": "TXT", "17": "RP", "18": "AFSDB", "19": "X25", "20": "ISDN", "21": "RT", "22": "NSAP",
    "23": "NSAPPTR", "24": "SIG", "25": "KEY", "26": "PX", "27": "GPOS", "28": "AAAA",
    "29": "LOC", "30": "NXT", "31": "EID", "32": "NIMLOC", "33": "SRV", "34": "ATMA",
    "35": "NAPTR", "36": "KX", "37": "CERT", "38": "A6", "39": "DNAME", "40": "SINK",
    "41": "OPT", "43": "DS", "46": "RRSIG", "47": "NSEC", "48": "DNSKEY", "49": "DHCID",
    "100": "UINFO", "101": "UID", "102": "GID", "103": "UNSPEC", "248": "ADDRS", "249": "TKEY",
    "250": "TSIG", "251": "IXFR", "252": "AXFR", "253": "MAILB", "254": "MAILA", "255": "ANY",
    "65281": "WINS", "65282": "WINSR",
}  # fmt: skip

# The commonest Win32 / DNS API status codes of Sysmon's QueryStatus. Elastic's table is
# longer; a code missing here keeps its number (`sysmon.dns.status: "9852"`).
DNS_STATUS: dict[str, str] = {
    "0": "SUCCESS",
    "5": "ERROR_ACCESS_DENIED",
    "8": "ERROR_NOT_ENOUGH_MEMORY",
    "13": "ERROR_INVALID_DATA",
    "14": "ERROR_OUTOFMEMORY",
    "123": "ERROR_INVALID_NAME",
    "1214": "ERROR_INVALID_NETNAME",
    "1223": "ERROR_CANCELLED",
    "1460": "ERROR_TIMEOUT",
    "4312": "ERROR_OBJECT_NOT_FOUND",
    "9001": "DNS_ERROR_RCODE_FORMAT_ERROR",
    "9002": "DNS_ERROR_RCODE_SERVER_FAILURE",
    "9003": "DNS_ERROR_RCODE_NAME_ERROR",
    "9004": "DNS_ERROR_RCODE_NOT_IMPLEMENTED",
    "9005": "DNS_ERROR_RCODE_REFUSED",
    "9501": "DNS_INFO_NO_RECORDS",
    "9502": "DNS_ERROR_BAD_PACKET",
    "9503": "DNS_ERROR_NO_PACKET",
    "9504": "DNS_ERROR_RCODE",
    "9505": "DNS_ERROR_UNSECURE_PACKET",
    "9506": "DNS_REQUEST_PENDING",
    "9560": "DNS_ERROR_INVALID_NAME_CHAR",
    "9561": "DNS_ERROR_NUMERIC_NAME",
    "9701": "DNS_ERROR_RECORD_DOES_NOT_EXIST",
    "9702": "DNS_ERROR_RECORD_FORMAT",
    "9851": "DNS_ERROR_NO_TCPIP",
    "9852": "DNS_ERROR_NO_DNS_SERVERS",
    "10054": "WSAECONNRESET",
    "10055": "WSAENOBUFS",
    "10060": "WSAETIMEDOUT",
}
