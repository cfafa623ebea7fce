"""Facts a note tells, computed once in Python: who, where, the process tree, connections.

Templates could dig these out of the events themselves, but Jinja is slow and clumsy at
joining events; `summarise` does it in one pass and hands the template plain data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eqlwatch.hitfacts import HitFacts, facts_of, pick

_PROC = ("name", "executable", "pid", "command_line", "entity_id")
_ENDPOINT = ("ip", "port", "domain")
_NETWORK = ("protocol", "direction")
_P, _PP = ("process",), ("process", "parent")
_S, _D, _N = ("source",), ("destination",), ("network",)


def _process_nodes(facts: HitFacts) -> tuple[list[Any], list[Any]]:
    """Each event's process object and its parent object (None where absent).

    Plain events hand over their own nested dicts; the others are read field by field into
    dicts carrying the same keys, so one tree builder serves both.
    """
    procs: list[Any] = []
    parents: list[Any] = []
    if facts.all_plain:
        for raw in facts.raws:
            node = raw.get("process")
            if type(node) is dict:
                up = node.get("parent")
                procs.append(node)
                parents.append(up if type(up) is dict else None)
            else:
                procs.append(None)
                parents.append(None)
        return procs, parents
    for raw, plain in facts.pairs():
        procs.append(pick(raw, plain, "process", _P, _PROC))
        parents.append(pick(raw, plain, "process.parent", _PP, _PROC))
    return procs, parents


def _described(node: Mapping[str, Any] | None) -> bool:
    """Whether a process object says which process it is (name, executable or command)."""
    return node is not None and bool(
        node.get("name") or node.get("executable") or node.get("command_line")
    )


def _fields(node: Mapping[str, Any]) -> dict[str, Any]:
    return {key: node.get(key) for key in _PROC}


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    if a.get("entity_id") and b.get("entity_id"):
        return bool(a["entity_id"] == b["entity_id"])
    return a.get("pid") is not None and a.get("pid") == b.get("pid")


def process_tree(sources: Sequence[Mapping[str, Any]] | HitFacts) -> dict[str, Any]:
    """parent → process → children (and the process's other command lines) from the events."""
    facts = sources if isinstance(sources, HitFacts) else facts_of(sources)
    procs, parents = _process_nodes(facts)
    main: Mapping[str, Any] | None = None
    parent: dict[str, Any] | None = None
    children: list[dict[str, Any]] = []
    commands: list[str] = []
    for node, up in zip(procs, parents, strict=True):
        if node is None or not (
            node.get("name") or node.get("executable") or node.get("command_line")
        ):
            continue  # not `_described`: written out, it runs for every event of every alert
        if main is None:
            main = node
            parent = _fields(up) if _described(up) else None
        elif _same(node, main):
            line = node.get("command_line")
            if line and line != main.get("command_line") and line not in commands:
                commands.append(line)
        elif _described(up) and _same(up, main):
            child = _fields(node)
            if child not in children:
                children.append(child)
    process = _fields(main) if main is not None else None
    return {"parent": parent, "process": process, "children": children, "commands": commands}


def connections(sources: Sequence[Mapping[str, Any]] | HitFacts) -> list[dict[str, Any]]:
    """Each event with a destination or source address, as flat dotted fields."""
    facts = sources if isinstance(sources, HitFacts) else facts_of(sources)
    out: list[dict[str, Any]] = []
    if facts.all_plain:
        for raw in facts.raws:
            src, dst = raw.get("source"), raw.get("destination")
            src = src if type(src) is dict else _NOTHING
            dst = dst if type(dst) is dict else _NOTHING
            if src.get("ip") is not None or dst.get("ip") is not None:
                net = raw.get("network")
                out.append(_connection(src, dst, net if type(net) is dict else _NOTHING))
        return out
    for raw, plain in facts.pairs():
        src = pick(raw, plain, "source", _S, _ENDPOINT)
        dst = pick(raw, plain, "destination", _D, _ENDPOINT)
        net = pick(raw, plain, "network", _N, _NETWORK)
        out.append(_connection(src, dst, net))
    return [row for row in out if row]


def _connection(
    src: Mapping[str, Any], dst: Mapping[str, Any], net: Mapping[str, Any]
) -> dict[str, Any]:
    """The flat connection row, or {} for an event with neither address."""
    if dst.get("ip") is None and src.get("ip") is None:
        return {}
    return {
        "source.ip": src.get("ip"),
        "source.port": src.get("port"),
        "source.domain": src.get("domain"),
        "destination.ip": dst.get("ip"),
        "destination.port": dst.get("port"),
        "destination.domain": dst.get("domain"),
        "network.protocol": net.get("protocol"),
        "network.direction": net.get("direction"),
    }


_NOTHING: Mapping[str, Any] = {}


def summarise(sources: Sequence[Mapping[str, Any]] | HitFacts) -> dict[str, Any]:
    """Everything the default note needs about a hit's events, as plain data."""
    facts = sources if isinstance(sources, HitFacts) else facts_of(sources)
    digest = facts.digest()
    domain, user = digest.user_domain, digest.user_name
    return {
        "host": digest.host_name or digest.host_hostname,
        "host_os": digest.host_os,
        "user": f"{domain}\\{user}" if domain and user else user,
        "tree": process_tree(facts),
        "connections": connections(facts),
    }
