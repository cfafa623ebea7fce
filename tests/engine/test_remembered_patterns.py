"""Pattern tests (`:`, `like`, `regex`, with and without `~`) answer a value they have seen
from memory (`compiler._remembered`): event by event they must give what the pattern
itself gives, when the memory fills and is forgotten, for long values it does not keep,
for values that differ only in case, and for lists and non-strings."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.engine import compile_query
from eqlwatch.engine import compiler as C

CONDITIONS = [
    'process.name : ("a*.exe", "B?.EXE")',
    'process.name like "a*"',
    'process.name like~ "A*"',
    'process.name regex """[a-c]\\.exe"""',
    'process.name regex~ """[a-c]\\.EXE"""',
    'process.name : "*x*" and not process.name regex """.*\\.com"""',
]
NAMES: list[Any] = [
    "a.exe", "A.EXE", "b.exe", "B1.EXE", "ax.com", "x", "", "é.exe", "İ.exe",
    "a" * 250 + ".exe", "a" * 250 + ".EXE", 5, True, None, ["a.exe", "zz"], ["q"],
]  # fmt: skip


def _results(text: str, events: list[dict[str, Any]]) -> list[Any]:
    cond = compile_query(text).plan_for("").stages[0].cond
    assert cond is not None
    return [cond(e) for e in events]


@settings(max_examples=300, deadline=None)
@given(
    text=st.sampled_from(CONDITIONS),
    names=st.lists(st.sampled_from(NAMES), min_size=1, max_size=30),
    size=st.integers(1, 4),
    length=st.sampled_from([0, 3, 200]),
)
def test_remembered_answers_are_the_patterns_answers(
    text: str, names: list[Any], size: int, length: int
) -> None:
    events = [{"process": {"name": n}} for n in names]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(C, "_remembered", lambda match: match)
        direct = _results(f"process where {text}", events)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(C, "REMEMBER_VALUES", size)
        patch.setattr(C, "REMEMBER_LENGTH", length)
        remembered = _results(f"process where {text}", events)
    assert remembered == direct


def test_a_seen_value_is_not_matched_again() -> None:
    calls: list[str] = []

    def match(s: str) -> bool:
        calls.append(s)
        return s.endswith(".exe")

    test = C._remembered(match)
    assert [test(v) for v in ("a.exe", "a.exe", "b", "a.exe", "b")] == [
        True, True, False, True, False,
    ]  # fmt: skip
    assert calls == ["a.exe", "b"]
    long = "x" * (C.REMEMBER_LENGTH + 1)
    assert not test(long)
    assert not test(long)
    assert calls.count(long) == 2  # too long to keep
