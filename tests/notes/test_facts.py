"""`summarise` must tell the same facts whatever the events' shape and whichever read path
(plain nested dicts or field-by-field) it takes: checked against a reference written
directly on `get_field`."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.enrich import Enricher, load_ip_table
from eqlwatch.hitfacts import facts_of
from eqlwatch.notes.facts import summarise
from eqlwatch.rules.fields import get_field

ENRICHER = Enricher(load_ip_table())
PROC = ("name", "executable", "pid", "command_line", "entity_id")


def _first(sources: list[dict[str, Any]], path: str) -> Any:
    for source in sources:
        value = get_field(source, path)
        if value not in (None, "", []):
            return value
    return None


def _proc(source: dict[str, Any], prefix: str) -> dict[str, Any] | None:
    proc = {key: get_field(source, f"{prefix}.{key}") for key in PROC}
    return proc if proc["name"] or proc["executable"] or proc["command_line"] else None


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if a["entity_id"] and b["entity_id"]:
        return bool(a["entity_id"] == b["entity_id"])
    return a["pid"] is not None and a["pid"] == b["pid"]


def _tree(sources: list[dict[str, Any]]) -> dict[str, Any]:
    main = parent = None
    children: list[dict[str, Any]] = []
    commands: list[str] = []
    for source in sources:
        proc = _proc(source, "process")
        if proc is None:
            continue
        if main is None:
            main, parent = proc, _proc(source, "process.parent")
        elif _same(proc, main):
            line = proc["command_line"]
            if line and line != main["command_line"] and line not in commands:
                commands.append(line)
        else:
            up = _proc(source, "process.parent")
            if up is not None and _same(up, main) and proc not in children:
                children.append(proc)
    return {"parent": parent, "process": main, "children": children, "commands": commands}


def _connections(sources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = [f"{side}.{key}" for side in ("source", "destination") for key in ("ip", "port")]
    names += ["source.domain", "destination.domain", "network.protocol", "network.direction"]
    rows = []
    for source in sources:
        if get_field(source, "source.ip") is None and get_field(source, "destination.ip") is None:
            continue
        rows.append({name: get_field(source, name) for name in names})
    return rows


def reference(sources: list[dict[str, Any]]) -> dict[str, Any]:
    domain, user = _first(sources, "user.domain"), _first(sources, "user.name")
    return {
        "host": _first(sources, "host.name") or _first(sources, "host.hostname"),
        "host_os": _first(sources, "host.os.type"),
        "user": f"{domain}\\{user}" if domain and user else user,
        "tree": _tree(sources),
        "connections": _connections(sources),
    }


# Few names and values, so processes share ids and pids and shapes collide often.
_leaf: st.SearchStrategy[Any] = st.sampled_from([None, "", "a", "b", "a.exe", 1, 2, "10.0.0.1", []])
_keys = st.sampled_from(
    [
        "name",
        "executable",
        "pid",
        "command_line",
        "entity_id",
        "ip",
        "port",
        "domain",
        "protocol",
        "direction",
        "type",
        "hostname",
        "os",
        "os.type",
        "parent",
        "parent.pid",
        "parent.name",
        "parent.entity_id",
    ]
)
_object = st.recursive(
    _leaf, lambda inner: st.dictionaries(_keys, inner, max_size=5), max_leaves=10
)
_tops = st.sampled_from(
    [
        "process",
        "process.parent",
        "process.name",
        "process.pid",
        "process.entity_id",
        "source",
        "destination",
        "network",
        "source.ip",
        "user",
        "user.name",
        "host",
        "host.name",
        "host.os.type",
        "process.parent.pid",
        "user.domain",
    ]
)
_event = st.dictionaries(_tops, _object, max_size=6)


@settings(max_examples=700)
@given(st.lists(_event, min_size=1, max_size=4))
def test_summarise_equals_the_get_field_reference(sources: list[dict[str, Any]]) -> None:
    expected = reference(sources)
    _, plain = ENRICHER.scan(sources)
    assert summarise(facts_of(sources, plain)) == expected  # plain reads where allowed
    assert summarise(facts_of(sources)) == expected  # every read through get_field
    assert summarise(sources) == expected


def _optional(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=fields)


_small = st.sampled_from([None, "", "a", "b", 1, 2])
_process = _optional(
    name=_small, executable=_small, pid=_small, command_line=_small, entity_id=_small
)
_plain_event = _optional(
    process=st.one_of(_small, _process.flatmap(lambda p: _optional(parent=_process).map(p.__or__))),
    source=st.one_of(_small, _optional(ip=_small, port=_small, domain=_small)),
    destination=_optional(ip=_small, port=_small, domain=_small),
    network=st.one_of(_small, _optional(protocol=_small, direction=_small)),
    user=_optional(name=_small, domain=_small),
    host=_optional(name=_small, hostname=_small, os=st.one_of(_small, _optional(type=_small))),
)


@settings(max_examples=700)
@given(st.lists(_plain_event, min_size=1, max_size=4))
def test_summarise_of_nested_events_equals_the_reference(sources: list[dict[str, Any]]) -> None:
    _, plain = ENRICHER.scan(sources)
    facts = facts_of(sources, plain)
    assert facts.all_plain  # the nested-dict read path is the one under test
    assert summarise(facts) == reference(sources)
