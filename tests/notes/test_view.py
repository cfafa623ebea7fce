from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.notes import EventView, field
from eqlwatch.notes.facts import process_tree, summarise

NESTED = {"process": {"name": "a.exe", "parent": {"name": "p.exe"}}, "host": {"name": "h"}}
FLAT = {"process.name": "a.exe", "process.parent.name": "p.exe", "host.name": "h"}
MIXED = {"process": {"name": "a.exe", "parent.name": "p.exe"}, "host.name": "h"}


@pytest.mark.parametrize("source", [NESTED, FLAT, MIXED])
def test_dotted_and_attribute_access_agree(source: dict[str, object]) -> None:
    ev = EventView(source)
    assert ev["process.name"] == "a.exe"
    assert ev.process.name == "a.exe"
    assert ev.process.parent.name == "p.exe"
    assert ev["process"]["parent.name"] == "p.exe"
    assert ev.host.name == "h"
    assert "process.parent.name" in ev
    assert "process.pid" not in ev
    assert ev.get("process.pid", 7) == 7
    assert field(ev, "process.parent.name") == "p.exe"
    assert field(source, "process.parent.name") == "p.exe"


def test_missing_fields_raise_lookup_errors() -> None:
    ev = EventView(NESTED)
    with pytest.raises(KeyError):
        ev["process.pid"]
    with pytest.raises(AttributeError):
        _ = ev.process.pid
    with pytest.raises(AttributeError):
        _ = ev._secret  # private names are never fields
    assert field(None, "x", "d") == "d"


def test_iteration_and_str() -> None:
    ev = EventView(NESTED)
    assert sorted(ev) == ["host", "process"]
    assert str(ev.process.parent) == '{"name":"p.exe"}'


def _proc(pid: int, name: str, parent: int | None = None, cmd: str | None = None) -> dict[str, Any]:
    proc: dict[str, Any] = {"pid": pid, "name": name, "entity_id": f"e{pid}"}
    if cmd:
        proc["command_line"] = cmd
    if parent is not None:
        proc["parent"] = {"pid": parent, "name": "parent.exe", "entity_id": f"e{parent}"}
    return {"process": proc}


def test_process_tree_parent_process_children_commands() -> None:
    sources: list[dict[str, Any]] = [
        {"destination": {"ip": "1.2.3.4"}},
        _proc(10, "regsvr32.exe", parent=1, cmd="regsvr32 /s a.dll"),
        _proc(10, "regsvr32.exe", parent=1, cmd="regsvr32 /u a.dll"),
        _proc(20, "cmd.exe", parent=10),
        _proc(20, "cmd.exe", parent=10),
        _proc(30, "other.exe", parent=99),
    ]
    tree = process_tree(sources)
    assert tree["parent"]["name"] == "parent.exe"
    assert tree["process"]["pid"] == 10
    assert [c["pid"] for c in tree["children"]] == [20]
    assert tree["commands"] == ["regsvr32 /u a.dll"]


def test_summarise_host_user_connections() -> None:
    sources: list[dict[str, Any]] = [
        {"host": {"hostname": "h1"}, "user": {"name": "bob"}},
        {"user": {"domain": "CORP"}, "destination": {"ip": "8.8.8.8", "port": 53}},
    ]
    facts = summarise(sources)
    assert facts["host"] == "h1"
    assert facts["user"] == "CORP\\bob"
    assert [c["destination.ip"] for c in facts["connections"]] == ["8.8.8.8"]
    assert facts["tree"]["process"] is None


def _seen(value: object) -> object:
    """What a template would get: a view is compared by where it points and what it holds."""
    if isinstance(value, EventView):
        return ("view", repr(value), str(value), list(value))
    return value


_names = st.sampled_from(["a", "b", "ip", "name"])
_plain_tree: st.SearchStrategy[Any] = st.recursive(
    st.one_of(st.none(), st.integers(0, 2), st.sampled_from(["", "x"]), st.just([])),
    lambda inner: st.one_of(
        st.lists(inner, max_size=2), st.dictionaries(_names, inner, max_size=3)
    ),
    max_leaves=10,
)
_plain_event = st.dictionaries(_names, _plain_tree, max_size=4)
_paths = st.lists(_names, min_size=1, max_size=4).map(".".join)


@settings(max_examples=600)
@given(_plain_event, _paths, _paths)
def test_plain_views_read_what_the_general_view_reads(
    event: dict[str, object], path: str, below: str
) -> None:
    """An event with nested dicts only: the `dict.get` path answers as `get_field` does,
    for the event and for views of objects inside it."""
    fast, general = EventView(event, plain=True), EventView(event)
    assert _seen(fast.get(path, "<none>")) == _seen(general.get(path, "<none>"))
    assert (path in fast) == (path in general)
    inner_fast, inner_general = fast.get(path), general.get(path)
    if isinstance(inner_general, EventView):
        assert isinstance(inner_fast, EventView)
        assert _seen(inner_fast.get(below, "<none>")) == _seen(inner_general.get(below, "<none>"))


@settings(max_examples=400)
@given(_plain_event, st.lists(st.tuples(_paths, _paths), min_size=1, max_size=8))
def test_plain_views_answer_alike_when_asked_again(
    event: dict[str, object], asks: list[tuple[str, str]]
) -> None:
    """A plain view remembers the paths it walked (shared with the views below it): asked
    again, from the root, from a view below or through `field`, in any order, it answers
    as a fresh general view does."""
    fast = EventView(event, plain=True)
    for path, below in asks:
        general = EventView(event)
        assert _seen(fast.get(path, "<none>")) == _seen(general.get(path, "<none>"))
        assert _seen(field(fast, path, "<none>")) == _seen(field(general, path, "<none>"))
        inner_fast, inner_general = fast.get(path), general.get(path)
        if isinstance(inner_general, EventView):
            assert isinstance(inner_fast, EventView)
            got, want = inner_fast.get(below, "<none>"), inner_general.get(below, "<none>")
            assert _seen(got) == _seen(want)
            joined = f"{path}.{below}"
            assert _seen(fast.get(joined, "<none>")) == _seen(general.get(joined, "<none>"))


def test_a_remembered_object_still_gives_a_new_view_each_time() -> None:
    """Only the walk is remembered: an object comes back as a fresh view, as before, and
    its fields read through the shared memory equal the event's."""
    ev = EventView(NESTED, plain=True)
    first, second = ev.process, ev.process
    assert first is not second
    assert first.parent.name == second["parent.name"] == "p.exe"
    assert field(ev, "process.parent.name") == "p.exe"
    assert field(ev, "process.parent.pid", "none") == "none"
    assert field(ev, "process.parent.pid", "again") == "again"
