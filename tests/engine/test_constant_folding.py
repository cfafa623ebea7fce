"""A call or an arithmetic of literals answers as the same call over fields does.

eql's optimizer folded such calls with its own functions, which are not Elasticsearch's:
`modulo(-7, 3)` and `-7 % 3` became 2 (Java's remainder, and the engine's, is -1),
`-7 / 2` became -4 (-3), `between("abc", "A", "C")` found "b" case-insensitively ("").
Now only a negative literal (`0 - n`) is folded; the rest is evaluated by the engine.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.engine import SourceEvent, compile_query


def matches(condition: str, source: dict[str, Any] | None = None) -> bool:
    event = {"@timestamp": 1, "event": {"category": "process"}, **(source or {})}
    return bool(compile_query(f"process where {condition}").run([SourceEvent("i", "1", event)]))


@pytest.mark.parametrize(
    "condition",
    [
        "modulo(-7, 3) == -1",
        "-7 % 3 == -1",
        "-7 / 2 == -3",
        "divide(-7, 2) == -3",
        'between("abc", "A", "C") == ""',
        'between~("abc", "A", "C") == "b"',
        "x == -1",
        "x + -1 == -2",
    ],
)
def test_literals_answer_as_elasticsearch(condition: str) -> None:
    assert matches(condition, {"x": -1})


def literal(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


INTS = st.integers(-50, 50)
TEXTS = st.text(alphabet="abAB", max_size=4)
CALLS = {
    "divide": (INTS, INTS.filter(bool)),
    "modulo": (INTS, INTS.filter(bool)),
    "add": (INTS, INTS),
    "subtract": (INTS, INTS),
    "multiply": (INTS, INTS),
    "between": (TEXTS, TEXTS, TEXTS),
    "between~": (TEXTS, TEXTS, TEXTS),
    "substring": (TEXTS, st.integers(-5, 5)),
    "length": (TEXTS,),
    "concat": (TEXTS, TEXTS),
    "indexOf": (TEXTS, TEXTS),
    "string": (INTS,),
    "number": (st.integers(0, 99).map(str),),
}


@st.composite
def calls(draw: st.DrawFn) -> tuple[str, list[Any]]:
    name = draw(st.sampled_from(sorted(CALLS)))
    return name, [draw(arg) for arg in CALLS[name]]


@settings(max_examples=300, deadline=None)
@given(call=calls())
def test_a_call_of_literals_equals_the_call_over_fields(call: tuple[str, list[Any]]) -> None:
    name, values = call
    fields = {f"a{i}": value for i, value in enumerate(values)}
    over_fields = f"{name}({', '.join(fields)})"
    over_literals = f"{name}({', '.join(literal(v) for v in values)})"
    assert matches(f"{over_literals} == {over_fields}", fields), (over_literals, values)
