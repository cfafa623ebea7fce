"""eql's parser tables read back from the cache parse exactly as freshly built ones."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import lark
import pytest
from eql.etc import get_etc_file
from eql.parser import KvTree

from eqlwatch.cachedir import ENV
from eqlwatch.engine import grammar_cache
from eqlwatch.engine.parse import quote_at_fields
from eqlwatch.engine.syntax import explain
from eqlwatch.rules import load_rules
from tests.conftest import DATA_DIR
from tests.engine.conformance import load_cases

REPO = Path(__file__).resolve().parents[2]
GRAMMAR = get_etc_file("eql.g")
OPTIONS: dict[str, Any] = {
    "debug": False,
    "propagate_positions": True,
    "tree_class": KvTree,
    "parser": "lalr",
    "start": ["piped_query", "definition", "field_parts", "expr"],
}


def queries() -> list[str]:
    texts = [case.query for case in load_cases(DATA_DIR / "conformance")]
    texts += [rule.query for rule in load_rules([REPO / "queries"], compile=False).rules]
    return [quote_at_fields(t)[0] + "\n" for t in texts]


def outcomes(parser: lark.Lark, texts: list[str]) -> list[object]:
    """Trees, or errors as users read them (Lark's own text lists a set in any order)."""
    found: list[object] = []
    for text in texts:
        try:
            found.append(parser.parse(text, start="piped_query"))
        except lark.exceptions.LarkError as exc:
            expected = sorted(getattr(exc, "expected", None) or ())
            found.append((type(exc).__name__, explain(exc, text), expected))
    return found


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(ENV, str(tmp_path / "cache"))
    return tmp_path / "cache" / grammar_cache.FOLDER


def test_kept_tables_parse_as_built_ones(store: Path) -> None:
    texts = queries()
    texts += [t[: len(t) // 2] for t in texts]  # broken halves: the same errors
    built = lark.Lark(GRAMMAR, **OPTIONS)
    first = grammar_cache.KeptLark(GRAMMAR, **OPTIONS)  # builds, then keeps
    (kept,) = store.glob("*.lark")
    assert kept.stat().st_mode & 0o077 == 0
    stamp = kept.stat().st_mtime_ns
    loaded = grammar_cache.KeptLark(GRAMMAR, **OPTIONS)
    assert kept.stat().st_mtime_ns == stamp  # read, not written again
    assert loaded.source_path == "<deserialized>"  # it did come from the file
    expected = outcomes(built, texts)
    assert any(isinstance(o, tuple) for o in expected)
    assert outcomes(first, texts) == expected
    assert outcomes(loaded, texts) == expected


def test_kept_bytes_load_a_parser_with_other_options(store: Path) -> None:
    """The parse without positions (`parse._fast_parser`) is loaded from the bytes the
    kept parser came from: it parses as one built with those options, positions off."""
    grammar_cache.KeptLark(GRAMMAR, **OPTIONS)
    loaded = grammar_cache.KeptLark(GRAMMAR, **OPTIONS)
    assert loaded.kept is not None
    fast = loaded.kept.load(propagate_positions=False)
    built = lark.Lark(GRAMMAR, **{**OPTIONS, "propagate_positions": False})
    texts = queries()
    assert outcomes(fast, texts) == outcomes(built, texts)
    tree = fast.parse(texts[0], start="piped_query")
    assert not any(hasattr(node.meta, "line") for node in tree.iter_subtrees())
    placed = loaded.parse(texts[0], start="piped_query")
    assert any(hasattr(node.meta, "line") for node in placed.iter_subtrees())


def test_damaged_tables_are_built_again(store: Path) -> None:
    grammar_cache.KeptLark(GRAMMAR, **OPTIONS)
    (kept,) = store.glob("*.lark")
    kept.write_bytes(b"\x80\x05garbage")
    parser = grammar_cache.KeptLark(GRAMMAR, **OPTIONS)
    assert parser.source_path != "<deserialized>"
    assert outcomes(parser, queries()[:20]) == outcomes(
        lark.Lark(GRAMMAR, **OPTIONS), queries()[:20]
    )
    assert kept.stat().st_size > 10_000  # rewritten whole


def test_a_folder_others_can_write_is_not_read(store: Path) -> None:
    grammar_cache.KeptLark(GRAMMAR, **OPTIONS)
    store.chmod(0o777)
    try:
        assert grammar_cache.KeptLark(GRAMMAR, **OPTIONS).source_path != "<deserialized>"
    finally:
        store.chmod(0o700)


def test_other_options_get_their_own_tables(store: Path) -> None:
    grammar_cache.KeptLark(GRAMMAR, **OPTIONS)
    other = grammar_cache.KeptLark(GRAMMAR, **{**OPTIONS, "start": ["piped_query"]})
    assert other.source_path != "<deserialized>"  # not the first one's tables
    assert len(list(store.glob("*.lark"))) == 1  # the older file was replaced


def test_processes_share_the_tables_and_off_writes_none(tmp_path: Path) -> None:
    events = tmp_path / "e.ndjson"
    events.write_text('{"@timestamp": "2026-01-01T00:00:00Z", "event": {"category": "process"}}\n')
    command = [
        *(sys.executable, "-m", "eqlwatch", "query"),
        *("process where true", "--events", str(events)),
    ]
    outputs = []
    for store in ("off", str(tmp_path / "c"), str(tmp_path / "c")):
        env = {**os.environ, ENV: store}
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        took = re.sub(r'"took": \d+', '"took": 0', done.stdout)  # the only varying field
        outputs.append((done.returncode, took))
        if store == "off":
            assert not (tmp_path / "c").exists()
    assert outputs[0][0] == 0
    assert outputs[1] == outputs[0]
    assert outputs[2] == outputs[0]
    assert len(list((tmp_path / "c" / grammar_cache.FOLDER).glob("*.lark"))) == 1
