"""The fast parse path gives what eql's own parse gives: the same trees, the same errors.

`engine/parse.py` parses without Lark's position tracking (re-parsing with it only when a
query has a problem), does not optimize function arguments twice, and finds bare
`@names` with one regex. Each is checked here against the plain way over every query of
Elasticsearch's EQL QA suite, the rule pack and a slice of the vendored Sigma rules, and
over hypothesis-made texts.
"""

from __future__ import annotations

import re
from contextlib import ExitStack
from pathlib import Path

import eql
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.engine import parse as parse_module
from eqlwatch.errors import QueryError
from eqlwatch.rules import load_rules
from eqlwatch.rules.compiled import clear_caches
from tests.conftest import DATA_DIR
from tests.engine.conformance import load_cases
from tests.engine.eql_reference import reference_optimized

REPO = Path(__file__).resolve().parents[2]


def corpus() -> list[str]:
    """Conformance queries, the rule pack's, and every 6th vendored Sigma rule converted."""
    queries = [case.query for case in load_cases(DATA_DIR / "conformance")]
    queries += [rule.query for rule in load_rules([REPO / "queries"], compile=False).rules]
    sigma = sorted((DATA_DIR / "sigma" / "rules").rglob("*.yml"))[::6]
    queries += [rule.query for rule in load_rules(sigma, compile=False).rules]
    return queries


def es_config() -> ExitStack:
    """eql's parser settings as `engine/parse.py` uses them."""
    stack = ExitStack()
    cfg = eql.parser
    for setting in (
        cfg.elasticsearch_syntax,
        cfg.allow_sample,
        cfg.allow_runs,
        cfg.allow_negation,
        cfg.ignore_missing_functions,
        cfg.ParserConfig(implied_any=False, implied_base=False, allow_subqueries=True),
    ):
        stack.enter_context(setting)
    return stack


def reference_tree(text: str) -> object:
    """eql's way: its positional parser, then its own (context-keeping) optimizer."""
    source = parse_module.quote_at_fields(text)[0] + "\n"
    with es_config():
        result = parse_module._walk_with_positions(source)
        return reference_optimized(getattr(result, "node", result))


def fast_tree(text: str) -> object:
    return parse_module._walk(parse_module.quote_at_fields(text)[0] + "\n")


def outcome(walk: object, text: str) -> object:
    """The tree, or the error's kind, message and place."""
    try:
        return walk(text)  # type: ignore[operator]
    except Exception as exc:  # eql raises more than EqlError on some broken texts
        where = (getattr(exc, "line", None), getattr(exc, "column", None))
        return type(exc), getattr(exc, "error_msg", str(exc)), *where


def test_fast_trees_and_errors_equal_eqls_over_every_known_query() -> None:
    """Every query, and a broken copy of it (cut at two thirds), both ways."""
    queries = corpus()
    assert len(queries) > 500
    texts = queries + [q[: len(q) * 2 // 3] for q in queries]
    failed = 0
    for text in texts:
        expected = outcome(reference_tree, text)
        assert outcome(fast_tree, text) == expected, text
        failed += isinstance(expected, tuple)
    assert failed > 300  # most cut queries are broken: their errors were compared too


BROKEN = [
    "process where (process.name == ",  # syntax: the query ends inside a bracket
    'process where process.name == "a" and\n  foo(process.name)',  # unknown function
    'process where process.name == "a" | unique process.name',  # unsupported pipe
    "process where length() == 1",  # signature, named by our walker
    "sequence [process where true]",  # a sequence of one
    "process where @timestamp == 1 and\n   process.pid ==",  # after a quoted @name
    'process where process.name[0] == "x"',  # array indexing
]


@pytest.mark.parametrize("text", BROKEN)
def test_errors_name_the_same_place_as_the_positional_parse(text: str) -> None:
    clear_caches()
    with pytest.raises(QueryError) as fast:
        parse_module.parse(text)
    source = parse_module.quote_at_fields(text)[0] + "\n"
    with pytest.raises(eql.errors.EqlError) as slow, es_config():
        parse_module._walk_with_positions(source)
    error = fast.value
    assert error.message == slow.value.error_msg
    assert error.location is not None
    assert error.location.line == slow.value.line + 1
    assert re.match(r"^\d+:\d+: ", str(error)), str(error)


def reference_quote(text: str) -> tuple[str, list[tuple[int, int]]]:
    """The character-by-character scan quote_at_fields replaced (the oracle)."""
    out: list[str] = []
    added: list[tuple[int, int]] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if text.startswith('"""', i):
            end = text.find('"""', i + 3)
            end = len(text) if end < 0 else end + 3
        elif ch == '"':
            end = i + 1
            while end < len(text) and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            end = min(end + 1, len(text))
        elif ch == "`":
            end = text.find("`", i + 1)
            end = len(text) if end < 0 else end + 1
        elif ch == "@" and (m := parse_module._AT_FIELD.match(text, i)):
            line = text.count("\n", 0, i) + 1
            added.append((line, i - (text.rfind("\n", 0, i) + 1) + 1))
            out.append(f"`{m.group(0)}`")
            i = m.end()
            continue
        else:
            end = i + 1
        out.append(text[i:end])
        i = end
    return "".join(out), added


PIECES = st.sampled_from(
    ['"', '"""', "`", "\\", "@", "@timestamp", "@a.b", "@x.@y", ".", "\n", " ", "a", "_", "1"]
)


@settings(max_examples=1000, deadline=None)
@given(st.lists(PIECES | st.text(max_size=3), max_size=30).map("".join))
def test_quote_at_fields_equals_the_character_scan(text: str) -> None:
    assert parse_module.quote_at_fields(text) == reference_quote(text)
