"""Small value conversions shared by the Sysmon mapping: GUIDs, times, hashes, paths.

Collectors spell the same value differently (GUIDs with or without braces, in either
case; numbers as JSON numbers or strings), so every input is brought to one spelling
here before any field is mapped. Joins such as `sequence by process.entity_id` only work
when both sides agree.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

_GUID = re.compile(
    r"^\{?([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})\}?$"
)
_NULL_GUID = "{00000000-0000-0000-0000-000000000000}"
# Values Elastic's pipeline treats as "no value" in event_data.
EMPTY_VALUES = frozenset({"", "-"})


def canonical_guid(value: str) -> str:
    """`{UPPER-CASE}` for anything GUID-shaped; other text is returned unchanged."""
    m = _GUID.match(value.strip())
    if m is None:
        return value
    return "{" + m.group(1).upper() + "}"


def is_null_guid(value: str) -> bool:
    return canonical_guid(value) == _NULL_GUID


def is_guid_key(key: str) -> bool:
    """Event-data keys that hold GUIDs (ProcessGuid, SourceProcessGUID, LogonGuid, ...)."""
    return key.lower().endswith("guid")


def text(value: Any) -> str | None:
    """Event-data value as Elastic sees it: a string, or None when empty or `-`."""
    if type(value) is str:  # nearly every value: no further checks
        return None if value in EMPTY_VALUES else value
    if value is None:
        return None
    if isinstance(value, bool):
        out = "true" if value else "false"
    elif isinstance(value, str):
        out = value
    else:
        out = str(value)
    return None if out in EMPTY_VALUES else out


# Event-data keys seen so far and whether they hold GUIDs; bounded, as keys come from input.
_GUID_KEYS: dict[str, bool] = {}
_GUID_KEYS_KEPT = 4096


_NO_KEYS: frozenset[str] = frozenset()


def clean_event_data(
    raw: Mapping[str, Any], *, skip: frozenset[str] = _NO_KEYS, element: bool = False
) -> dict[str, str]:
    """Stringify, drop empty and null-GUID values, and canonicalise GUIDs.

    `skip`: keys that are no event data (a collector's own fields), left out here rather
    than in a copy made first. `element`: `raw` is an evtx-rs EventData element without
    unnamed `Data` (the shapes module's fast path): a `{"#text": v}` value is read as v.
    """
    out: dict[str, str] = {}
    guid_keys = _GUID_KEYS
    for key, value in raw.items():
        if key in skip:
            continue
        if type(value) is str:  # nearly every value: `text` inlined
            if value in EMPTY_VALUES:
                continue
            s = value
        else:
            if element and value is not None and isinstance(value, Mapping):
                value = value.get("#text")
            found = text(value)
            if found is None:
                continue
            s = found
        guid = guid_keys.get(key)
        if guid is None:
            guid = is_guid_key(key)
            if len(guid_keys) < _GUID_KEYS_KEPT:
                guid_keys[key] = guid
        if guid:
            s = canonical_guid(s)
            if s == _NULL_GUID:
                continue
        out[key] = s
    return out


def to_int(value: Any) -> int | None:
    """A number from a JSON number or a decimal / `0x` hex string; None if it is neither."""
    if type(value) is int:  # a JSON number, most often (bool is not of type int)
        return value
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    s = str(value).strip()
    try:
        return int(s, 16) if s.lower().startswith("0x") else int(s)
    except ValueError:
        return None


def _iso_ms(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


_UTC_TIME = re.compile(r"^\s*(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z?\s*$")


def parse_utc_time(value: str) -> str | None:
    """Sysmon `UtcTime` ("2019-05-12 18:35:05.140", UTC) as ISO 8601 with millis and Z."""
    m = _UTC_TIME.match(value)
    if m is None:
        return None
    year, month, day, hour, minute, second, frac = m.groups()
    try:
        datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
    except ValueError:
        return None
    millis = (frac or "")[:3].ljust(3, "0")
    return f"{year}-{month}-{day}T{hour}:{minute}:{second}.{millis}Z"


# What EVTX ("2019-07-19T14:42:51.446280Z") and NXLog ("2019-04-27 15:57:25", no zone:
# UTC) write: read by slicing.
_PLAIN_TIME = re.compile(
    r"([1-9][0-9]{3}-[0-9]{2}-[0-9]{2})[T ]([0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]+))?Z?"
)


def parse_iso_time(value: str) -> str | None:
    """An ISO 8601 timestamp of any precision (System TimeCreated) as millis with Z."""
    m = _PLAIN_TIME.fullmatch(value)
    if m is not None:
        date, clock, frac = m.groups()
        year, month, day = int(date[:4]), int(date[5:7]), int(date[8:])
        try:  # the date and time must exist; whatever else is left to fromisoformat
            datetime(year, month, day, int(clock[:2]), int(clock[3:5]), int(clock[6:]))
        except ValueError:
            return _parse_iso_time(value)
        return f"{date}T{clock}.{(frac or '')[:3].ljust(3, '0')}Z"
    return _parse_iso_time(value)


def _parse_iso_time(value: str) -> str | None:
    """`parse_iso_time` through `datetime.fromisoformat`, for every other spelling."""
    s = value.strip()
    if s.endswith(" UTC"):
        s = s[:-4]
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    m = re.match(r"^(.*?\.\d{1,6})\d*(.*)$", s)  # Windows gives 7 fractional digits
    if m is not None:
        s = m.group(1) + m.group(2)
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return _iso_ms(dt)


def parse_hashes(value: str) -> dict[str, str]:
    """`SHA1=AB..,MD5=CD..` (or a bare `SHA256=..`) → {"sha1": "ab..", ...}, empty ones dropped."""
    out: dict[str, str] = {}
    for part in value.split(","):
        key, sep, digest = part.partition("=")
        if not sep:
            continue
        digest = digest.strip().lower()
        if not digest.strip("0"):  # empty or all zeros
            continue
        out[key.strip().lower()] = digest
    return out


def split_user(value: str) -> tuple[str, str] | None:
    """`DOMAIN\\name` → (domain, name); anything else is not split (as Elastic does)."""
    parts = value.split("\\")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        return None
    return parts[0], parts[1]


def basename(path: str) -> str | None:
    """Text after the last backslash, or None when there is none (Elastic's rule)."""
    idx = path.rfind("\\")
    if idx < 0 or idx == len(path) - 1:
        return None
    return path[idx + 1 :]


def file_parts(path: str) -> dict[str, str]:
    """`file.name`, `file.directory`, `file.extension` from a Windows path."""
    idx = path.rfind("\\")
    if len(path) <= 1 or idx < 0:
        return {}
    parts = {"name": path[idx + 1 :], "directory": path[:idx]}
    ext = path.rfind(".")
    if ext > -1:
        parts["extension"] = path[ext + 1 :]
    return parts


def valid_ip(value: str) -> str | None:
    if not value:
        return None
    try:
        ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    return value.strip()


# Dotted field names split once: (parents, leaf). Bounded, as some names come from input.
_PATHS: dict[str, tuple[tuple[str, ...], str]] = {}
_PATHS_KEPT = 4096


def _path(dotted: str) -> tuple[tuple[str, ...], str]:
    known = _PATHS.get(dotted)
    if known is None:
        *parents, leaf = dotted.split(".")
        known = (tuple(parents), leaf)
        if len(_PATHS) < _PATHS_KEPT:
            _PATHS[dotted] = known
    return known


def put(doc: dict[str, Any], dotted: str, value: Any) -> None:
    """Set `a.b.c` in a nested dict, creating the objects on the way."""
    parents, leaf = _PATHS.get(dotted) or _path(dotted)
    node = doc
    for name in parents:
        child = node.get(name)
        if type(child) is not dict and not isinstance(child, dict):  # a dict nearly always
            child = {}
            node[name] = child
        node = child
    node[leaf] = value


def put_new(doc: dict[str, Any], dotted: str, value: Any) -> bool:
    """`put` unless `a.b.c` holds a value already (not None): one walk for a `get` and a
    `put`. True when it was set."""
    parents, leaf = _PATHS.get(dotted) or _path(dotted)
    node = doc
    for name in parents:
        child = node.get(name)
        if type(child) is not dict and not isinstance(child, dict):
            child = {}  # nothing below it yet, so nothing to keep
            node[name] = child
        node = child
    if node.get(leaf) is not None:
        return False
    node[leaf] = value
    return True


def get(doc: Mapping[str, Any], dotted: str) -> Any:
    """The value at `a.b.c`, or None when a step is missing or is no object."""
    parents, leaf = _PATHS.get(dotted) or _path(dotted)
    node: Any = doc
    for name in parents:
        # A dict, or None once a step is missing, nearly always: the ABC check comes last.
        if type(node) is not dict and (node is None or not isinstance(node, Mapping)):
            return None
        node = node.get(name)
    if type(node) is not dict and (node is None or not isinstance(node, Mapping)):
        return None
    return node.get(leaf)


def append_unique(doc: dict[str, Any], dotted: str, values: list[str]) -> None:
    """Append to a list field without duplicates (Elastic's `allow_duplicates: false`)."""
    current = get(doc, dotted)
    out: list[str] = list(current) if isinstance(current, list) else []
    for v in values:
        if v not in out:
            out.append(v)
    if out:
        put(doc, dotted, out)
