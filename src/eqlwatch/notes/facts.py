"""Facts a note tells, computed once in Python: who, where, the process tree, connections.

Templates could dig these out of the events themselves, but Jinja is slow and clumsy at
joining events; `summarise` does it in one pass and hands the template plain data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eqlwatch.rules.fields import get_field, pick

_PROC = ("name", "executable", "pid", "command_line", "entity_id")
_ENDPOINT = ("ip", "port", "domain")
_NETWORK = ("protocol", "direction")
_SOURCE_KEYS = tuple(f"source.{k}" for k in _ENDPOINT)
_DEST_KEYS = tuple(f"destination.{k}" for k in _ENDPOINT)
_NET_KEYS = tuple(f"network.{k}" for k in _NETWORK)


def _process(source: Mapping[str, Any], prefix: str) -> dict[str, Any] | None:
    node = pick(source, prefix, _PROC)
    return node if node["name"] or node["executable"] or node["command_line"] else None


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    if a.get("entity_id") and b.get("entity_id"):
        return bool(a["entity_id"] == b["entity_id"])
    return a.get("pid") is not None and a.get("pid") == b.get("pid")


def process_tree(sources: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """parent → process → children (and the process's other command lines) from the events."""
    main: dict[str, Any] | None = None
    parent: dict[str, Any] | None = None
    children: list[dict[str, Any]] = []
    commands: list[str] = []
    for src in sources:
        proc = _process(src, "process")
        if proc is None:
            continue
        if main is None:
            main, parent = proc, _process(src, "process.parent")
        elif _same(proc, main):
            line = proc["command_line"]
            if line and line != main["command_line"] and line not in commands:
                commands.append(line)
        else:
            up = _process(src, "process.parent")
            if up is not None and _same(up, main) and proc not in children:
                children.append(proc)
    return {"parent": parent, "process": main, "children": children, "commands": commands}


def connections(sources: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each event with a destination or source address, as flat dotted fields."""
    out: list[dict[str, Any]] = []
    for src in sources:
        if get_field(src, "destination.ip") is None and get_field(src, "source.ip") is None:
            continue
        row = dict(zip(_SOURCE_KEYS, pick(src, "source", _ENDPOINT).values(), strict=True))
        row.update(zip(_DEST_KEYS, pick(src, "destination", _ENDPOINT).values(), strict=True))
        row.update(zip(_NET_KEYS, pick(src, "network", _NETWORK).values(), strict=True))
        out.append(row)
    return out


def first_of(sources: Sequence[Mapping[str, Any]], path: str) -> Any:
    """The first non-empty value of a field across the events (host, user, ...)."""
    for src in sources:
        value = get_field(src, path)
        if value not in (None, "", []):
            return value
    return None


def summarise(sources: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Everything the default note needs about a hit's events, as plain data."""
    domain, user = first_of(sources, "user.domain"), first_of(sources, "user.name")
    return {
        "host": first_of(sources, "host.name") or first_of(sources, "host.hostname"),
        "host_os": first_of(sources, "host.os.type"),
        "user": f"{domain}\\{user}" if domain and user else user,
        "tree": process_tree(sources),
        "connections": connections(sources),
    }
