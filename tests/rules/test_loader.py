from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from eqlwatch.errors import ConfigError
from eqlwatch.rules import load_rules
from eqlwatch.rules.loader import field_path, key_line, query_origin
from tests.rules.conftest import minimal_rule


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_broken_rule_is_reported_and_others_load(tmp_path: Path, rules_data: Path) -> None:
    shutil.copy(rules_data / "detection_rules_format.toml", tmp_path / "a_real.toml")
    write(tmp_path / "b_ok.toml", minimal_rule("rule-b"))
    write(
        tmp_path / "c_bad.toml",
        minimal_rule("rule-c").replace("risk_score = 47", "risk_score = -1"),
    )
    write(tmp_path / "notes.txt", "ignored: not a .toml file")
    result = load_rules([tmp_path])
    assert [r.rule_id for r in result.rules] == ["0d6d2b5e-6f2a-4d6e-9b44-8c7a3a4f0001", "rule-b"]
    assert len(result.errors) == 1
    assert not result.ok
    err = result.errors[0]
    assert isinstance(err, ConfigError)
    assert err.location is not None
    assert err.location.file == str(tmp_path / "c_bad.toml")
    assert err.location.field == "rule.risk_score"


def test_duplicate_rule_id_skips_second(tmp_path: Path) -> None:
    write(tmp_path / "a.toml", minimal_rule("same"))
    write(tmp_path / "b.toml", minimal_rule("same"))
    result = load_rules([tmp_path])
    assert len(result.rules) == 1
    assert result.rules[0].path == str(tmp_path / "a.toml")
    assert "duplicate rule_id" in result.errors[0].message
    assert result.errors[0].location is not None
    assert result.errors[0].location.file == str(tmp_path / "b.toml")


def test_missing_path_and_bad_encoding(tmp_path: Path) -> None:
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe\x00bad")
    result = load_rules([tmp_path / "nope", tmp_path / "bin.toml"])
    assert result.rules == ()
    assert [e.location.file for e in result.errors if e.location] == [
        str(tmp_path / "nope"),
        str(tmp_path / "bin.toml"),
    ]


def test_field_path() -> None:
    assert field_path(("eqlwatch", "fixtures", 0, "kind")) == "eqlwatch.fixtures[0].kind"
    assert field_path(("rule",)) == "rule"


def test_key_line_stays_inside_table() -> None:
    text = "[metadata]\nname = 'm'\n[rule]\nx = 1\nname = 'r'\n[[rule.threat]]\nname = 't'\n"
    assert key_line(text, "rule", "name") == 5
    assert key_line(text, "metadata", "name") == 2
    assert key_line(text, "rule", "absent") is None


def test_query_origin() -> None:
    multi = "[rule]\nquery = '''\nprocess where true\n'''\n"
    assert query_origin(multi) == (3, 0)
    single = '[rule]\nquery = "process where true"\n'
    assert query_origin(single) == (2, len('query = "'))


def test_query_error_points_into_the_file(tmp_path: Path) -> None:
    text = minimal_rule("q1").replace(
        'process where process.name : "regsvr32.exe"',
        'process where process.name : "regsvr32.exe" and\n  process.pid == ',
    )
    path = write(tmp_path / "q.toml", text)
    result = load_rules([path])
    assert result.rules == ()
    err = result.errors[0]
    assert type(err).__name__ == "QueryError"
    assert err.location is not None
    assert err.location.field == "rule.query"
    assert err.location.file == str(path)
    assert err.location.line is not None
    assert text.splitlines()[err.location.line - 1].strip() == "process.pid =="


def test_single_line_query_column_is_shifted(tmp_path: Path) -> None:
    base = minimal_rule("q2")
    start = base.index("query = '''")
    text = base[:start] + 'query = "process where process.name = 1"\n'
    path = write(tmp_path / "q.toml", text)
    result = load_rules([path])
    assert result.rules == ()
    loc = result.errors[0].location
    assert loc is not None
    assert loc.line == text.splitlines().index('query = "process where process.name = 1"') + 1
    assert loc.column is not None
    assert text.splitlines()[loc.line - 1][loc.column - 1 :].startswith("= 1")


def test_unknown_function_is_a_query_error(tmp_path: Path) -> None:
    text = minimal_rule("q3").replace('process.name : "regsvr32.exe"', "notAFunction(process.name)")
    result = load_rules([write(tmp_path / "q.toml", text)])
    assert result.rules == ()
    assert result.errors[0].location is not None
    assert result.errors[0].location.field == "rule.query"


def test_compile_can_be_skipped(tmp_path: Path) -> None:
    text = minimal_rule("q4").replace('process.name : "regsvr32.exe"', "((")
    assert load_rules([write(tmp_path / "q.toml", text)], compile=False).rules != ()


def test_key_line_skips_multiline_strings() -> None:
    text = "[rule]\nnote = '''\n[a link](x)\nquery = 'no'\n'''\nquery = '''\nx\n'''\n"
    assert key_line(text, "rule", "query") == 6
    assert query_origin(text) == (7, 0)


def test_collector_paused_while_loading_and_restored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    from eqlwatch.rules import loader

    seen: list[bool] = []
    real = loader._load_cached

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(loader, "_load_cached", spy)
    monkeypatch.setenv("EQLWATCH_CACHE_DIR", "off")  # every file parsed, here
    monkeypatch.setenv("EQLWATCH_RULE_WORKERS", "1")
    write(tmp_path / "a.toml", minimal_rule("rule-a"))
    write(tmp_path / "b.toml", minimal_rule("rule-b"))
    assert gc.isenabled()
    result = load_rules([tmp_path])
    assert [r.rule_id for r in result.rules] == ["rule-a", "rule-b"]
    assert seen
    assert not any(seen)  # parsing sets off no collection
    assert gc.isenabled()
    monkeypatch.setattr(loader, "_load_cached", lambda *a, **k: 1 / 0)
    broken = load_rules([tmp_path])  # a failure inside restores the collector too
    assert len(broken.errors) == 2
    assert gc.isenabled()
