"""Facts a note tells, computed once in Python: who, where, the process tree, connections.

Templates could dig these out of the events themselves, but Jinja is slow and clumsy at
joining events; `summarise` does it in one pass and hands the template plain data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eqlwatch.hitfacts import HitFacts, facts_of, pick, read

_PROC = ("name", "executable", "pid", "command_line", "entity_id")
_ENDPOINT = ("ip", "port", "domain")
_NETWORK = ("protocol", "direction")
_P, _PP = ("process",), ("process", "parent")
_S, _D, _N = ("source",), ("destination",), ("network",)
_SIP, _DIP = ("source", "ip"), ("destination", "ip")


def _process(raw: Mapping[str, Any], plain: bool, up: bool) -> dict[str, Any] | None:
    if plain:  # only dicts, no dotted keys: nested get is the whole truth
        node = raw.get("process")
        if up and type(node) is dict:
            node = node.get("parent")
        if type(node) is not dict:
            return None
        proc = {key: node.get(key) for key in _PROC}
    elif up:
        proc = pick(raw, plain, "process.parent", _PP, _PROC)
    else:
        proc = pick(raw, plain, "process", _P, _PROC)
    return proc if proc["name"] or proc["executable"] or proc["command_line"] else None


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    if a.get("entity_id") and b.get("entity_id"):
        return bool(a["entity_id"] == b["entity_id"])
    return a.get("pid") is not None and a.get("pid") == b.get("pid")


def process_tree(sources: Sequence[Mapping[str, Any]] | HitFacts) -> dict[str, Any]:
    """parent → process → children (and the process's other command lines) from the events."""
    facts = sources if isinstance(sources, HitFacts) else facts_of(sources)
    main: dict[str, Any] | None = None
    parent: dict[str, Any] | None = None
    children: list[dict[str, Any]] = []
    commands: list[str] = []
    for raw, plain in zip(facts.raws, facts.plain, strict=True):
        proc = _process(raw, plain, False)
        if proc is None:
            continue
        if main is None:
            main, parent = proc, _process(raw, plain, True)
        elif _same(proc, main):
            line = proc["command_line"]
            if line and line != main["command_line"] and line not in commands:
                commands.append(line)
        else:
            up = _process(raw, plain, True)
            if up is not None and _same(up, main) and proc not in children:
                children.append(proc)
    return {"parent": parent, "process": main, "children": children, "commands": commands}


def connections(sources: Sequence[Mapping[str, Any]] | HitFacts) -> list[dict[str, Any]]:
    """Each event with a destination or source address, as flat dotted fields."""
    facts = sources if isinstance(sources, HitFacts) else facts_of(sources)
    out: list[dict[str, Any]] = []
    for raw, plain in zip(facts.raws, facts.plain, strict=True):
        if plain:
            src, dst, net = (_dict(raw.get(key)) for key in ("source", "destination", "network"))
            if dst.get("ip") is None and src.get("ip") is None:
                continue
        else:
            if (
                read(raw, plain, "destination.ip", _DIP) is None
                and read(raw, plain, "source.ip", _SIP) is None
            ):
                continue
            src = pick(raw, plain, "source", _S, _ENDPOINT)
            dst = pick(raw, plain, "destination", _D, _ENDPOINT)
            net = pick(raw, plain, "network", _N, _NETWORK)
        out.append(
            {
                "source.ip": src.get("ip"),
                "source.port": src.get("port"),
                "source.domain": src.get("domain"),
                "destination.ip": dst.get("ip"),
                "destination.port": dst.get("port"),
                "destination.domain": dst.get("domain"),
                "network.protocol": net.get("protocol"),
                "network.direction": net.get("direction"),
            }
        )
    return out


_NOTHING: Mapping[str, Any] = {}


def _dict(value: Any) -> Mapping[str, Any]:
    return value if type(value) is dict else _NOTHING


def first_of(sources: Sequence[Mapping[str, Any]], path: str) -> Any:
    """The first non-empty value of a field across the events (host, user, ...)."""
    return facts_of(sources).first(path)


def summarise(sources: Sequence[Mapping[str, Any]] | HitFacts) -> dict[str, Any]:
    """Everything the default note needs about a hit's events, as plain data."""
    facts = sources if isinstance(sources, HitFacts) else facts_of(sources)
    first = facts.first
    domain, user = first("user.domain"), first("user.name")
    return {
        "host": first("host.name") or first("host.hostname"),
        "host_os": first("host.os.type"),
        "user": f"{domain}\\{user}" if domain and user else user,
        "tree": process_tree(facts),
        "connections": connections(facts),
    }
