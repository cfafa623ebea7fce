"""`eqlwatch run --once` with a job whose rule path is a folder as people have them:
nested, other Kibana rule types mixed in, one rule broken."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from eqlwatch.cli.app import app
from eqlwatch.demo import write_demo_data
from tests.rules.conftest import minimal_rule

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
def project(tmp_path: Path, repo_root: Path) -> Path:
    for name in ("templates", "jobs"):
        shutil.copytree(repo_root / name, tmp_path / name)
    shutil.copytree(repo_root / "queries", tmp_path / "detection" / "rules" / "windows")
    other = tmp_path / "detection" / "rules" / "windows" / "other"
    other.mkdir()
    for kind, language in (("query", "kuery"), ("esql", "esql"), ("new_terms", "kuery")):
        text = minimal_rule(kind).replace('type = "eql"', f'type = "{kind}"')
        (other / f"{kind}.toml").write_text(
            text.replace('language = "eql"', f'language = "{language}"')
        )
    job = tmp_path / "jobs" / "default.toml"
    job.write_text(
        job.read_text().replace('paths = ["queries/*.toml"]', 'paths = ["detection/rules"]')
    )
    write_demo_data(tmp_path / "data" / "demo", end=NOW - timedelta(minutes=1))
    return tmp_path


def run_once(project: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.chdir(project)
    result = CliRunner().invoke(
        app, ["run", "--once", "--now", NOW.isoformat()], env={"COLUMNS": "200"}
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def alerts(project: Path) -> list[dict[str, object]]:
    path = project / "out" / "alerts.ndjson"
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


def test_a_folder_with_other_rule_types_runs_its_eql_rules(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out = run_once(project, monkeypatch)
    assert code == 0, out
    assert "8 rule(s) run, 0 not loaded" in out
    assert "rule not loaded" not in out
    assert len({a["rule"]["id"] for a in alerts(project)}) >= 3  # type: ignore[index]


def test_a_broken_rule_is_reported_and_the_rest_run(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = "process where " + '(process.name == "a" or ' * 1000 + "true" + ")" * 1000
    text = minimal_rule("deep").replace('process where process.name : "regsvr32.exe"', deep)
    (project / "detection" / "rules" / "deep.toml").write_text(text)
    code, out = run_once(project, monkeypatch)
    assert code == 1
    flat = out.replace("\n", "")
    assert "detection/rules/deep.toml:" in flat
    assert "query nested too deeply" in flat
    assert "8 rule(s) run, 1 not loaded" in flat
    assert len({a["rule"]["id"] for a in alerts(project)}) >= 3  # type: ignore[index]
