"""`eqlwatch hunt --rules DIR FILE` over a rule folder as people have them: nested folders,
other Kibana rule types mixed in, and broken rules that must not stop the good ones."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from eqlwatch.cli.app import app
from tests.rules.conftest import minimal_rule

FIXTURE = "tests/fixtures/rulepack/defend-regsvr32-scriptlet.ndjson"
SCRIPTLET = "Regsvr32 Scriptlet Execution"


@pytest.fixture
def rules(tmp_path: Path, repo_root: Path) -> Path:
    """The rule pack one folder down, beside kuery/ES|QL rules, as in detection-rules."""
    folder = tmp_path / "rules" / "windows"
    shutil.copytree(repo_root / "queries", folder)
    kuery = minimal_rule("k").replace('type = "eql"', 'type = "query"')
    (folder / "kuery_rule.toml").write_text(kuery.replace('language = "eql"', 'language = "kuery"'))
    esql = minimal_rule("e").replace('type = "eql"', 'type = "esql"')
    (folder / "esql_rule.toml").write_text(esql.replace('language = "eql"', 'language = "esql"'))
    return tmp_path / "rules"


def hunt(repo_root: Path, rules: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    monkeypatch.chdir(repo_root)
    args = ["hunt", "--rules", str(rules), "--format", "ndjson", "--no-progress", FIXTURE]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "300"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def rule_names(out: str) -> set[str]:
    return {orjson.loads(line)["rule"]["name"] for line in out.splitlines() if line}


def test_nested_folder_with_other_types_runs_its_eql_rules(
    rules: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = hunt(repo_root, rules, monkeypatch)
    assert code == 0, err
    assert any(name.startswith(SCRIPTLET) for name in rule_names(out))
    assert "rule not loaded" not in err
    assert err.count("2 not EQL, skipped: 1 esql, 1 query") == 1
    assert ", 8 rules, " in err


def test_broken_rules_are_reported_and_the_rest_hunt(
    rules: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = "process where " + '(process.name == "a" and ' * 1000 + "true" + ")" * 1000
    text = minimal_rule("deep").replace('process where process.name : "regsvr32.exe"', deep)
    (rules / "windows" / "deep.toml").write_text(text)
    regex = 'process where process.name regex "[z-a]"'
    text = minimal_rule("rx").replace('process where process.name : "regsvr32.exe"', regex)
    (rules / "regex.toml").write_text(text)
    code, out, err = hunt(repo_root, rules, monkeypatch)
    assert code == 1  # a rule did not load
    assert any(name.startswith(SCRIPTLET) for name in rule_names(out))
    flat = err.replace("\n", "")
    assert f"{rules / 'windows' / 'deep.toml'}:" in flat
    assert "[rule.query]: query nested too deeply" in flat
    assert f"{rules / 'regex.toml'}:" in flat
    assert "[rule.query]: invalid regex" in flat
    assert ", 8 rules, " in flat


def test_a_folder_with_no_rule_is_an_error(
    tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "empty").mkdir()
    code, out, err = hunt(repo_root, tmp_path / "empty", monkeypatch)
    assert code == 2
    assert out == ""
    assert "no rule file (*.toml, Sigma *.yml) in this folder or below" in err.replace("\n", "")
