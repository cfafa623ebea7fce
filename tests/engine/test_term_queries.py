"""Filters run as Elasticsearch runs them: as queries, not as expressions.

Two ways the two differ, both from Elasticsearch's EQL planner (`QueryTranslator`):
- `endsWith(field, "...")` and `stringContains(field, "...")` become a Lucene `wildcard`
  query with the literal pasted in unescaped, so `*`, `?` and `\\` in it are wildcard
  syntax there (a real detection rule writes `stringContains(x, "principal=\\\\*")` for a
  literal star);
- those, `startsWith` (a prefix query) and `cidrMatch` (a terms query) of a field and
  literals are false, never null, where the field is missing: a `not` of one is true
  there (a bool `must_not`), while a script's `not` stays null. `f(...) == false` is
  `not f(...)` to Elasticsearch's optimizer.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.engine import SourceEvent, compile_query


def matches(query: str, docs: list[dict[str, Any]]) -> list[int]:
    events = [
        SourceEvent("logs", str(i), {"@timestamp": 1, "event": {"category": "process"}, **d})
        for i, d in enumerate(docs)
    ]
    return sorted(int(h.events[0].id) for h in compile_query(query).run(events))


def eql_string(text: str) -> str:
    """`text` as an EQL double-quoted string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def lucene_wildcard(pattern: str, value: str) -> bool:
    """Whole-value match of a Lucene wildcard text, by plain recursion (the model)."""
    tokens: list[str | None] = []  # None: any string; "": any one character; else literal
    chars = iter(pattern)
    for ch in chars:
        if ch == "\\":
            tokens.append(next(chars, "\\"))
        else:
            tokens.append(None if ch == "*" else "" if ch == "?" else ch)

    @cache
    def match(t: int, v: int) -> bool:
        if t == len(tokens):
            return v == len(value)
        token = tokens[t]
        if token is None:
            return match(t + 1, v) or (v < len(value) and match(t, v + 1))
        return v < len(value) and token in ("", value[v]) and match(t + 1, v + 1)

    return match(0, 0)


def test_the_model_knows_lucene_wildcards() -> None:
    assert lucene_wildcard("*\\cmd.exe", "C:\\xcmd.exe")  # `\c` is a literal c
    assert lucene_wildcard("a*", "a")
    assert lucene_wildcard("a?c", "abc")
    assert not lucene_wildcard("a?c", "ac")
    assert not lucene_wildcard("a\\*", "ab")
    assert lucene_wildcard("a\\*", "a*")
    assert lucene_wildcard("ab\\", "ab\\")


DOCS: list[dict[str, Any]] = [
    {"process": {"executable": "C:\\xcmd.exe", "name": "aXXb.exe"}},  # 0
    {"process": {"executable": "C:\\w\\cmd.exe", "name": "a*b.exe"}},  # 1
    {"process": {"pid": 7}},  # 2: no name, no executable
    {"process": {"name": "principal=*", "executable": "principal=Q"}},  # 3
]


def test_function_literals_are_wildcard_text_on_a_field() -> None:
    assert matches(r'process where endsWith(process.executable, "\\cmd.exe")', DOCS) == [0, 1]
    assert matches('process where stringContains(process.name, "a*b")', DOCS) == [0, 1]
    assert matches('process where endsWith(process.name, "?.exe")', DOCS) == [0, 1]
    assert matches(r'process where endsWith~(process.executable, "\\CMD.EXE")', DOCS) == [0, 1]
    # a backslash before the star makes it literal: the rule's literal star, not any text
    star = r'process where stringContains(process.%s, "principal=\\*")'
    assert matches(star % "name", DOCS) == [3]
    assert matches(star % "executable", DOCS) == []
    # without wildcard syntax a literal means what it says
    assert matches('process where endsWith(process.name, "b.exe")', DOCS) == [0, 1]


def test_elsewhere_the_function_is_a_script_with_literal_text() -> None:
    # not a field: Elasticsearch evaluates it as a script, characters as they are
    q = r'process where endsWith(concat(process.executable, ""), "\\cmd.exe")'
    assert matches(q, DOCS) == [1]
    assert matches('process where stringContains(concat(process.name, ""), "a*b")', DOCS) == [1]


def test_not_of_a_term_query_is_true_where_the_field_is_missing() -> None:
    for query in (
        'process where not endsWith(process.name, "zzz")',
        'process where not stringContains(process.name, "zzz")',
        'process where not startsWith(process.name, "zzz")',
        'process where not startsWith~(process.name, "ZZZ")',
        'process where endsWith(process.name, "zzz") == false',
        'process where false == endsWith(process.name, "zzz")',
        'process where endsWith(process.name, "zzz") != true',
        'process where not (endsWith(process.name, "zzz") and process.pid == 7)',
    ):
        assert 2 in matches(query, DOCS), query
    assert matches('process where not cidrMatch(source.ip, "10.0.0.0/8")', DOCS) == [0, 1, 2, 3]


def test_a_scripts_not_stays_null_where_the_field_is_missing() -> None:
    for query in (
        "process where not length(process.name) > 100",
        'process where not endsWith(concat(process.name, ""), "zzz")',
        "process where not (length(process.name) > 100 and process.pid == 7)",
        'process where not not endsWith(process.name, "zzz")',
        'process where endsWith(process.name, "zzz") == true',
    ):
        assert 2 not in matches(query, DOCS), query


text = st.text(alphabet=st.sampled_from("ab*?\\.é"), max_size=8)


def test_a_multi_valued_field_matches_when_any_value_does() -> None:
    docs: list[dict[str, Any]] = [{"process": {"args": ["a.exe", "b.dll"]}}]
    for query in (
        'process where endsWith(process.args, ".dll")',
        'process where endsWith(process.args, ".exe")',
        'process where stringContains(process.args, "b.d")',
        'process where startsWith(process.args, "b.")',
        'process where startsWith~(process.args, "B.")',
        'process where endsWith(process.args, "*.d?l")',
    ):
        assert matches(query, docs) == [0], query
    # a function of anything else is an expression, evaluated here on the first value
    assert matches('process where endsWith(concat(process.args), ".dll")', docs) == []


@settings(max_examples=300, deadline=None)
@given(
    literal=text,
    values=st.lists(text, min_size=1, max_size=3),
    function=st.sampled_from(["endsWith", "stringContains", "startsWith"]),
)
def test_a_field_function_matches_as_the_term_query_would(
    literal: str, values: list[str], function: str
) -> None:
    if function == "startsWith":  # a prefix query: the literal as it is
        expected = any(v.startswith(literal) for v in values)
    else:
        pattern = f"*{literal}*" if function == "stringContains" else f"*{literal}"
        expected = any(lucene_wildcard(pattern, v) for v in values)
    query = f"process where {function}(process.name, {eql_string(literal)})"
    name: Any = values if len(values) > 1 else values[0]
    assert (matches(query, [{"process": {"name": name}}]) == [0]) == expected
    # the script form (not a field) reads the literal as it is
    value = values[0]
    script = f'process where {function}(concat(process.name, ""), {eql_string(literal)})'
    plain = {
        "endsWith": value.endswith(literal),
        "startsWith": value.startswith(literal),
        "stringContains": literal in value,
    }[function]
    assert (matches(script, [{"process": {"name": value}}]) == [0]) == plain
