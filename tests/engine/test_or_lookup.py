"""An `or` whose branches test one field against literals is looked up by the field's
value (`ExprCompiler._or_terms`): it must give exactly what evaluating every branch gives,
True, False or None, for every value shape (strings in any case, lists, numbers, null,
characters whose lower case is longer), inside `not`, nested, and with wildcards mixed in."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.engine import compile_query
from eqlwatch.engine import compiler as C

FIELDS = ["process.name", "process.parent.name"]
WORDS = ["a.exe", "B.EXE", "c", "İx", "k", "\u212a", "ß", "ss", "a*", "?", ""]
VALUES: list[Any] = [
    "a.exe", "A.EXE", "b.exe", "C", "c", "i̇x", "İX", "K", "k", "\u212a", "SS", "ß", "", "a.e",
    None, 5, True, ["a.exe"], ["c", "b.exe"], [], {"x": 1},
]  # fmt: skip


def _literal(word: str) -> str:
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


@st.composite
def field_term(draw: st.DrawFn) -> str:
    field = draw(st.sampled_from(FIELDS))
    words = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3))
    return f"{field} : ({', '.join(_literal(w) for w in words)})"


@st.composite
def branch(draw: st.DrawFn) -> str:
    first = draw(field_term())
    rest = draw(
        st.lists(
            st.one_of(
                field_term().map(lambda t: f"not {t}"),
                field_term(),
                st.just("process.pid == 1"),
                st.just("process.parent.name != null"),
                st.just('process.name == "C"'),
            ),
            max_size=2,
        )
    )
    terms = [first, *rest]
    draw(st.randoms()).shuffle(terms)
    return "(" + " and ".join(terms) + ")" if len(terms) > 1 else terms[0]


@st.composite
def condition(draw: st.DrawFn) -> str:
    ors = " or ".join(draw(st.lists(branch(), min_size=1, max_size=9)))
    return draw(
        st.sampled_from(
            [
                f"({ors})",
                f"not ({ors})",
                f"process.pid == 1 or ({ors})",
                f'(({ors}) or process.name : "zz") and process.parent.name != "q"',
            ]
        )
    )


@st.composite
def event(draw: st.DrawFn) -> dict[str, Any]:
    process: dict[str, Any] = {}
    for key in ("name", "pid"):
        if draw(st.booleans()):
            process[key] = draw(st.sampled_from(VALUES)) if key == "name" else 1
    if draw(st.booleans()):
        process["parent"] = {"name": draw(st.sampled_from(VALUES))}
    return {"event": {"category": "process"}, "process": process}


def _results(text: str, events: list[dict[str, Any]]) -> list[Any]:
    plan = compile_query(text).plan_for("")
    cond = plan.stages[0].cond
    assert cond is not None
    return [cond(e) for e in events]


@settings(max_examples=300, deadline=None)
@given(cond=condition(), events=st.lists(event(), min_size=1, max_size=12))
def test_looked_up_or_gives_what_every_branch_gives(
    cond: str, events: list[dict[str, Any]]
) -> None:
    text = f"process where {cond}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(C, "OR_INDEX_MIN", 10**9)
        plain = _results(text, events)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(C, "OR_INDEX_MIN", 1)
        looked_up = _results(text, events)
    assert looked_up == plain


def test_the_lookup_applies_to_a_parent_child_style_rule() -> None:
    """Many branches on `process.name` are looked up: a branch never listed for the
    value is not evaluated (its other conjunct would count the reads)."""
    reads: list[str] = []
    names = [f"p{i}.exe" for i in range(6)]
    branches = " or ".join(
        f'(process.name : "{n}" and not process.parent.name : "ok{i}")' for i, n in enumerate(names)
    )
    compiled = compile_query(f'process where host.os.type == "windows" and ({branches})')
    cond = compiled.plan_for("").stages[0].cond
    assert cond is not None

    class Counting(dict[str, Any]):
        def get(self, key: str, default: Any = None) -> Any:
            reads.append(key)
            return super().get(key, default)

    def event(name: str, parent: str) -> dict[str, Any]:
        return {
            "host": {"os": {"type": "windows"}},
            "process": Counting(name=name, parent={"name": parent}),
        }

    assert cond(event("P3.EXE", "x")) is True
    assert cond(event("p3.exe", "ok3")) is False
    reads.clear()
    assert cond(event("other.exe", "x")) is False
    assert "parent" not in reads  # no branch's `not parent.name` was evaluated
