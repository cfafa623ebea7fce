"""An `and` of terms that cannot raise runs its terms in an order learnt from its first
events (`compiler._ordered_and`): event by event it must give exactly the True / False /
None the written order gives, whatever order it learnt, for every value shape (missing,
null, lists, numbers, wrong types), nested in `or` and `not`, and as a filter."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.engine import compile_query
from eqlwatch.engine import compiler as C
from eqlwatch.engine.parse import nodes as A

TERMS = [
    'host.os.type == "windows"',
    'event.type == "start"',
    "process.parent.pid == 4",
    "process.args_count >= 2",
    "process.parent.name != null",
    "process.pe.original_file_name == null",
    'process.name : ("a.exe", "B*")',
    'process.name like~ "*.EXE"',
    'process.executable regex~ """[a-c]:\\\\.*"""',
    'process.args : "?:\\\\*:*"',
    'startsWith(process.name, "a")',
    'endswith~(process.executable, ".EXE")',
    'stringContains(process.command_line, "x")',
    'process.name in ("a.exe", "b.exe")',
    'cidrmatch(source.ip, "10.0.0.0/8")',
    'not process.name : "c*"',
    'dns.question.name regex """.*\\.(top|xyz)"""',
]
VALUES: dict[str, list[Any]] = {
    "name": ["a.exe", "B.EXE", "c.exe", "A.EXE", 5, None, ["a.exe", "z"], []],
    "executable": ["c:\\a.exe", "D:\\x.exe", "b:\\y", None, 3, ["a:\\z.EXE"]],
    "command_line": ["x y", "abc", None, ["q", "x"]],
    "args": [["c:\\a:b"], ["x", "d:\\e:f"], "c:\\y:z", None, []],
    "args_count": [1, 2, "3", None, True, 2.5],
    "pid": [4, 5, "4", None, [4, 6], 4.0],
    "original_file_name": ["a.exe", None],
}


@st.composite
def event(draw: st.DrawFn) -> dict[str, Any]:
    process: dict[str, Any] = {}
    for key, values in VALUES.items():
        if draw(st.booleans()):
            process[key] = draw(st.sampled_from(values))
    if draw(st.booleans()):
        process["parent"] = {
            k: draw(st.sampled_from(VALUES[v]))
            for k, v in (("pid", "pid"), ("name", "name"))
            if draw(st.booleans())
        }
    src: dict[str, Any] = {"process": process, "event": {"category": "process"}}
    if draw(st.booleans()):
        src["event"]["type"] = draw(st.sampled_from(["start", ["start"], "end", None]))
    if draw(st.booleans()):
        src["host"] = {"os": {"type": draw(st.sampled_from(["windows", "linux", None, 1]))}}
    if draw(st.booleans()):
        src["dns"] = {"question": {"name": draw(st.sampled_from(["a.top", "b.com", 7]))}}
    if draw(st.booleans()):
        src["source"] = {"ip": draw(st.sampled_from(["10.1.2.3", "8.8.8.8", "x", 5]))}
    if draw(st.booleans()):
        src["process.parent.pid"] = 4  # a dotted spelling next to the nested one
    return src


@st.composite
def condition(draw: st.DrawFn) -> str:
    def conj() -> str:
        terms = draw(st.lists(st.sampled_from(TERMS), min_size=2, max_size=5))
        return "(" + " and ".join(terms) + ")"

    shape = draw(st.sampled_from(["and", "or", "not", "nested"]))
    if shape == "and":
        return conj()
    if shape == "or":
        return f"{conj()} or {conj()}"
    if shape == "not":
        return f"not {conj()}"
    return f"{draw(st.sampled_from(TERMS))} and ({conj()} or {conj()})"


def _results(text: str, events: list[dict[str, Any]]) -> list[Any]:
    cond = compile_query(text).plan_for("").stages[0].cond
    assert cond is not None
    return [cond(e) for e in events]


@settings(max_examples=400, deadline=None)
@given(
    cond=condition(),
    events=st.lists(event(), min_size=1, max_size=14),
    learn=st.integers(1, 4),
)
def test_an_ordered_and_gives_what_the_written_order_gives(
    cond: str, events: list[dict[str, Any]], learn: int
) -> None:
    text = f"process where {cond}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(C, "_movable_all", lambda nodes: False)
        written = _results(text, events)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(C, "LEARN_EVENTS", learn)
        ordered = _results(text, events)
    assert ordered == written


def test_the_term_that_gives_the_falses_runs_first_once_learnt() -> None:
    """After the learning events, a term always true is no longer evaluated for an event
    a later, selective term rejects (it would count the reads)."""
    compiled = compile_query(
        'process where host.os.type == "windows" and process.name : "rare.exe"'
    )
    cond = compiled.plan_for("").stages[0].cond
    assert cond is not None
    usual = {"host": {"os": {"type": "windows"}}, "process": {"name": "usual.exe"}}
    for _ in range(C.LEARN_EVENTS):
        assert cond(usual) is False
    reads: list[str] = []

    class Counting(dict[str, Any]):
        def get(self, key: str, default: Any = None) -> Any:
            reads.append(key)
            return super().get(key, default)

    assert cond(Counting(host={"os": {"type": "windows"}}, process={"name": "x"})) is False
    assert reads == ["process"]
    assert cond({"host": {"os": {"type": "windows"}}, "process": {"name": "RARE.exe"}})


def test_terms_that_may_raise_keep_their_written_order() -> None:
    """Math and other functions are not moved: an error (or its absence) stays where the
    written order puts it."""
    query = compile_query('process where process.pid / 2 == 1 and process.name : "a"')
    assert not C._movable_all(query.parsed.stages[0].condition.terms)
    assert C._movable(A.Field("process", ["name"]))
