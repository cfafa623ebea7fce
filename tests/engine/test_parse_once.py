"""Parsing is done once per text and its optimizer pass equals eql's own walk.

`engine/parse.py` replaces eql's optimizer walk by a leaner one with the same rewrites
(eql's, but where they depart from Elasticsearch: `eql_reference`); over every query of
Elasticsearch's EQL QA suite and of the rule pack, the optimized trees must be equal.
"""

from __future__ import annotations

import re
from pathlib import Path

import eql
import pytest

from eqlwatch.engine import compile_query
from eqlwatch.engine import parse as parse_module
from eqlwatch.errors import QueryError
from eqlwatch.rules import load_rules
from tests.engine.conformance import load_cases
from tests.engine.eql_reference import reference_optimized

REPO = Path(__file__).resolve().parents[2]


def corpus() -> list[str]:
    queries = [case.query for case in load_cases(REPO / "tests" / "data" / "conformance")]
    queries += [rule.query for rule in load_rules([REPO / "queries"], compile=False).rules]
    return queries


def eql_optimized(text: str) -> object:
    """The tree as eql's own optimizer leaves it."""
    source = parse_module.quote_at_fields(text)[0] + "\n"
    cfg = eql.parser
    with (
        cfg.elasticsearch_syntax,
        cfg.allow_sample,
        cfg.allow_runs,
        cfg.allow_negation,
        cfg.ignore_missing_functions,
        cfg.ParserConfig(implied_any=False, implied_base=False, allow_subqueries=True),
    ):
        tree = eql.parser.lark_parser.parse(source, start="piped_query")
        result = parse_module._EsWalker(source).visit(tree)
        return reference_optimized(getattr(result, "node", result))


def test_lean_optimizer_equals_eqls_on_every_known_query() -> None:
    queries = corpus()
    assert len(queries) > 250
    compared = 0
    for text in queries:
        try:
            expected = eql_optimized(text)
        except Exception:  # queries the engine rejects have no tree to compare
            continue
        assert parse_module._walk(parse_module.quote_at_fields(text)[0] + "\n") == expected, text
        compared += 1
    assert compared > 250


def test_a_text_is_parsed_once_and_shared() -> None:
    text = 'process where process.name : "once-' + "x" * 12 + '.exe"'
    first = compile_query(text)
    second = compile_query(text, timestamp_field="ts", size=5)
    assert first.parsed is second.parsed
    assert first is not second  # request options still make their own compiled query


def test_errors_are_not_cached() -> None:
    text = "process where (process.name == "
    messages = []
    for _ in range(2):
        with pytest.raises(QueryError) as caught:
            compile_query(text)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    assert re.search(r"^1:\d+: ", messages[0])
