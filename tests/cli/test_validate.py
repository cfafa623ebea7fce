from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eqlwatch.cli.app import app
from eqlwatch.notes.env import PACKAGED_TEMPLATES
from tests.rules.conftest import minimal_rule


@pytest.fixture
def project(tmp_path: Path, repo_root: Path) -> Path:
    """A small project: one good rule with a fixture, the example job, the templates."""
    (tmp_path / "queries").mkdir()
    (tmp_path / "jobs").mkdir()
    (tmp_path / "fixtures").mkdir()
    (tmp_path / "fixtures" / "pos.ndjson").write_text("{}\n")
    # The packaged default note and its macros, as a project's own copy to check.
    shutil.copytree(PACKAGED_TEMPLATES, tmp_path / "templates")
    extra = '[[eqlwatch.fixtures]]\npath = "fixtures/pos.ndjson"\nkind = "positive"\n'
    (tmp_path / "queries" / "good.toml").write_text(minimal_rule("good", extra=extra))
    (tmp_path / "jobs" / "default.toml").write_text(
        '[job]\nid = "d"\nschedule = { interval = "5m" }\n'
    )
    return tmp_path


def run(cwd: Path, *args: str, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    monkeypatch.chdir(cwd)
    result = CliRunner().invoke(app, ["validate", *args])
    return result.exit_code, result.stdout, result.stderr


def test_clean_project_passes(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run(project, monkeypatch=monkeypatch)
    assert err == ""
    assert code == 0
    assert "1 rule file(s), 1 job file(s), 2 template(s) checked: 0 error(s)" in out


def test_errors_are_listed_with_location(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = minimal_rule("bad").replace('severity = "medium"', 'severity = "huge"')
    (project / "queries" / "bad.toml").write_text(bad)
    (project / "queries" / "fx.toml").write_text(
        minimal_rule("fx", extra='[[eqlwatch.fixtures]]\npath = "nope.ndjson"\nkind = "negative"\n')
    )
    (project / "jobs" / "broken.toml").write_text(
        '[job]\nid = "b"\nschedule = { interval = "5 min" }\n'
    )
    (project / "templates" / "oops.md.j2").write_text("{{ rule.nam }}\n")
    code, out, err = run(project, monkeypatch=monkeypatch)
    assert code == 1
    lines = err.strip().splitlines()
    line_no = bad.splitlines().index('severity = "huge"') + 1
    assert f"queries/bad.toml:{line_no} [rule.severity]: " in lines[0]
    assert any(line.startswith("queries/fx.toml [eqlwatch.fixtures[0].path]: ") for line in lines)
    assert any(line.startswith("jobs/broken.toml:3 [job.schedule.interval]: ") for line in lines)
    assert any(line.startswith("templates/oops.md.j2:1: template fails") for line in lines)
    assert "4 error(s)" in out


def test_explicit_paths(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = run(project, "queries/good.toml", monkeypatch=monkeypatch)
    assert code == 0
    assert "1 rule file(s), 0 job file(s)" in out
    code, _, err = run(project, "missing.toml", monkeypatch=monkeypatch)
    assert code == 1
    assert "missing.toml: no such file or directory" in err


def test_job_matching_no_rules(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "jobs" / "default.toml").write_text(
        '[job]\nid = "d"\nschedule = { cron = "*/5 * * * *" }\n'
        'rules = { paths = ["none/*.toml"] }\n'
    )
    code, _, err = run(project, "jobs", monkeypatch=monkeypatch)
    assert code == 1
    assert "jobs/default.toml [job.rules.paths]: matches no rule file" in err


def test_rule_template_missing(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    extra = '[eqlwatch]\ntemplate = "gone.md.j2"\n'
    (project / "queries" / "t.toml").write_text(minimal_rule("t", extra=extra))
    code, _, err = run(project, monkeypatch=monkeypatch)
    assert code == 1
    assert "queries/t.toml [eqlwatch.template]: template 'gone.md.j2' not found" in err


def test_the_project_itself_validates(repo_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The committed rules, jobs and templates pass their own check."""
    code, out, err = run(repo_root, monkeypatch=monkeypatch)
    assert err == ""
    assert code == 0
    assert " 0 error(s)" in out
