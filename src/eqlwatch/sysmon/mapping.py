"""Sysmon EventData → ECS: process, hashes, file, image-load (`dll.*`) and user fields.

Each function reads the working copy `data` of the event's EventData, writes ECS fields
into `doc`, and pops what Elastic's pipeline renames away, so what is left over becomes
`winlog.event_data` exactly as Elastic keeps it.
"""

from __future__ import annotations

from typing import Any

from eqlwatch.sysmon.argv import split_command_line
from eqlwatch.sysmon.tables import FILE_HASH_EVENTS, PROCESS_HASH_EVENTS
from eqlwatch.sysmon.values import (
    append_unique,
    basename,
    file_parts,
    get,
    parse_hashes,
    put,
    put_new,
    split_user,
    to_int,
)

Doc = dict[str, Any]
Data = dict[str, str]

# EventData key → ECS field, renamed in this order; a later key never overwrites an earlier.
_PROCESS_RENAMES: tuple[tuple[str, str, bool], ...] = (
    ("ProcessGuid", "process.entity_id", False),
    ("ProcessId", "process.pid", True),
    ("Image", "process.executable", False),
    ("SourceProcessGuid", "process.entity_id", False),
    ("SourceProcessGUID", "process.entity_id", False),
    ("SourceProcessId", "process.pid", True),
    ("SourceThreadId", "process.thread.id", True),
    ("SourceImage", "process.executable", False),
    ("Destination", "process.executable", False),
    ("CommandLine", "process.command_line", False),
    ("CurrentDirectory", "process.working_directory", False),
    ("ParentProcessGuid", "process.parent.entity_id", False),
    ("ParentProcessId", "process.parent.pid", True),
    ("ParentImage", "process.parent.executable", False),
    ("ParentCommandLine", "process.parent.command_line", False),
)
_PE_COPIES = (
    ("Company", "company"),
    ("Description", "description"),
    ("FileVersion", "file_version"),
    ("Product", "product"),
)


def _rename(doc: Doc, data: Data, key: str, field: str, as_int: bool = False) -> None:
    """Move `data[key]` to `field` unless the field is already set (Elastic's rename)."""
    value: Any = data.get(key)  # a string when there: EventData holds nothing else
    if value is None:
        return
    if as_int:
        value = to_int(value)
        if value is None:
            return
    if put_new(doc, field, value):
        del data[key]


def map_hashes(doc: Doc, data: Data, eid: int) -> None:
    """`Hashes` → `process.hash.*` or `file.hash.*` (and `dll.hash.*`), imphash, `related.hash`."""
    raw = data.pop("Hashes", None) or data.pop("Hash", None)
    if raw is None:
        return
    hashes = parse_hashes(raw)
    if not hashes:
        return
    append_unique(doc, "related.hash", list(hashes.values()))
    targets = []
    if eid in PROCESS_HASH_EVENTS:
        targets.append("process")
    elif eid in FILE_HASH_EVENTS:
        targets.extend(["file", "dll"] if eid == 7 else ["file"])
    for target in targets:
        for algo, digest in hashes.items():
            put(
                doc,
                f"{target}.pe.imphash" if algo == "imphash" else f"{target}.hash.{algo}",
                digest,
            )


_PROCESS_PE = tuple((key, f"process.pe.{name}") for key, name in _PE_COPIES)
_FILE_PE = tuple((key, f"file.pe.{name}") for key, name in _PE_COPIES)


def map_process(doc: Doc, data: Data, eid: int) -> None:
    """`process.*` and `process.parent.*`, with args split and names taken from the paths."""
    for key, field, as_int in _PROCESS_RENAMES:
        if key in data:  # most events hold a few of these keys: no call for the others
            _rename(doc, data, key, field, as_int)
    if eid != 7:
        _rename(doc, data, "OriginalFileName", "process.pe.original_file_name")
        for key, field in _PROCESS_PE:
            if key in data:
                put(doc, field, data[key])
    process = doc.get("process")
    if type(process) is not dict:
        return  # nothing below can be set: no command line, no executable
    _derive(process)
    parent = process.get("parent")
    if type(parent) is dict:
        _derive(parent)


def _derive(process: dict[str, Any]) -> None:
    """`args`, `args_count` and `name` of one `process` (or `process.parent`) object."""
    cmd = process.get("command_line")
    if cmd:
        args = split_command_line(cmd)
        process["args"] = args
        process["args_count"] = len(args)
    exe = process.get("executable")
    if exe and len(exe) > 1 and process.get("name") is None:
        short = basename(exe)
        if short:
            process["name"] = short


_FILE_RENAMES = (
    ("TargetFilename", "file.path"),
    ("Device", "file.path"),
    ("PipeName", "file.name"),
    ("ImageLoaded", "file.path"),
)


def map_file(doc: Doc, data: Data, eid: int) -> None:
    """`file.*` from the target path, pipe name or loaded image, with its signature and PE."""
    for key, field in _FILE_RENAMES:
        if key in data:
            _rename(doc, data, key, field)
    if "Signature" in data:
        put(doc, "file.code_signature.subject_name", data["Signature"])
    if "SignatureStatus" in data:
        put(doc, "file.code_signature.status", data["SignatureStatus"])
        if data["SignatureStatus"] == "Valid":
            put(doc, "file.code_signature.valid", True)
    if "Signed" in data:
        put(doc, "file.code_signature.trusted", data["Signed"].lower() == "true")
    if eid == 7:
        _rename(doc, data, "OriginalFileName", "file.pe.original_file_name")
        for key, field in _FILE_PE:
            if key in data:
                put(doc, field, data[key])
    path = get(doc, "file.path")
    if path:
        for name, value in file_parts(path).items():
            put(doc, f"file.{name}", value)


def map_dll(doc: Doc, data: Data) -> None:
    """Image loads (Sysmon 7) also as `dll.*`, as the windows integration writes them."""
    for field in ("path", "name", "pe.original_file_name"):
        value = get(doc, f"file.{field}")
        if value is not None:
            put(doc, f"dll.{field}", value)
    status = data.get("SignatureStatus") or data.get("Signed")
    if status is not None:
        put(doc, "dll.code_signature.status", status)
    if "Signature" in data:
        put(doc, "dll.code_signature.subject_name", data["Signature"])


def map_user(doc: Doc, data: Data, user_sid: str | None) -> None:
    """`user.id` from the record's security SID; `user.domain`/`user.name` from `User`."""
    if user_sid:
        put(doc, "user.id", user_sid)
    raw = data.pop("User", None)
    parts = split_user(raw) if raw else None
    if parts is not None:
        put(doc, "user.domain", parts[0])
        put(doc, "user.name", parts[1])
        append_unique(doc, "related.user", [parts[1]])


# ECS fields the functions above fill with a piece of another field's value (`_derive`'s
# name from the executable, `file_parts`, `map_dll`'s copies), in an order where the
# field read is complete before it is copied.
_PIECES = (
    ("process.name", "process.executable"),
    ("process.parent.name", "process.parent.executable"),
    ("file.name", "file.path"),
    ("file.directory", "file.path"),
    ("file.extension", "file.path"),
    ("dll.path", "file.path"),
    ("dll.name", "file.name"),
    ("dll.pe.original_file_name", "file.pe.original_file_name"),
)


def field_sources() -> dict[str, frozenset[str]]:
    """For the text fields this mapping fills from EventData, the keys whose value holds
    the field's value (whole or a piece of it, case and GUID braces aside), from the rename
    and copy tables above; a raw screen can then look for a needle of a test on the field
    in those keys' values alone. Only Sysmon records get these fields
    (`normalize.normalize_generic` maps none of them). `tests/sysmon/test_field_sources.py`
    holds every field to what the normaliser writes."""
    sources: dict[str, set[str]] = {}
    for key, field, as_int in _PROCESS_RENAMES:
        if not as_int:
            sources.setdefault(field, set()).add(key)
    for key, field in (*_FILE_RENAMES, *_PROCESS_PE, *_FILE_PE):
        sources.setdefault(field, set()).add(key)
    for field in ("process.pe.original_file_name", "file.pe.original_file_name"):
        sources.setdefault(field, set()).add("OriginalFileName")
    for field, whole in _PIECES:
        sources.setdefault(field, set()).update(sources[whole])
    return {field: frozenset(keys) for field, keys in sources.items()}
