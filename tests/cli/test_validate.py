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


def _other_type(rule_id: str, kind: str, language: str) -> str:
    return (
        minimal_rule(rule_id)
        .replace('type = "eql"', f'type = "{kind}"')
        .replace('language = "eql"', f'language = "{language}"')
    )


def _deep(rule_id: str, depth: int = 1000) -> str:
    query = "process where " + '(process.name == "a" or ' * depth + "true" + ")" * depth
    return minimal_rule(rule_id).replace('process where process.name : "regsvr32.exe"', query)


def test_folders_are_read_recursively(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nested = project / "queries" / "windows" / "execution"
    nested.mkdir(parents=True)
    (nested / "deep_down.toml").write_text(minimal_rule("deep-down"))
    (project / "queries" / ".hidden").mkdir()
    (project / "queries" / ".hidden" / "junk.toml").write_text("not = [valid")
    code, out, err = run(project, "queries", monkeypatch=monkeypatch)
    assert (code, err) == (0, "")
    assert "2 rule file(s), 0 job file(s)" in out
    (nested / "deep_down.toml").write_text(minimal_rule("deep-down").replace("47", "470"))
    code, _, err = run(project, "queries", monkeypatch=monkeypatch)
    assert code == 1
    assert "queries/windows/execution/deep_down.toml:" in err


def test_a_folder_without_rules_is_an_error(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "empty" / "sub").mkdir(parents=True)
    (project / "empty" / "sub" / "README.md").write_text("no rules here\n")
    code, out, err = run(project, "empty", monkeypatch=monkeypatch)
    assert code == 1
    assert "empty: no rule, job or template file in this folder or below" in err
    assert "1 error(s)" in out


def test_only_non_eql_rules_is_an_error(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "kql").mkdir()
    (project / "kql" / "a.toml").write_text(_other_type("a", "query", "kuery"))
    code, out, err = run(project, "kql", monkeypatch=monkeypatch)
    assert code == 1
    assert "no EQL rule, job or template found in kql" in err
    assert "1 not EQL, skipped: 1 query" in out


def test_other_rule_types_are_skipped_once(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = project / "queries" / "mixed"
    folder.mkdir()
    kinds = [("query", "kuery"), ("query", "lucene"), ("esql", "esql"), ("threshold", "kuery")]
    kinds += [("machine_learning", "kuery"), ("new_terms", "kuery")]
    for i, (kind, language) in enumerate(kinds):
        (folder / f"other_{i}.toml").write_text(_other_type(f"o{i}", kind, language))
    code, out, err = run(project, "queries", monkeypatch=monkeypatch)
    assert (code, err) == (0, "")
    assert (
        "7 rule file(s) (6 not EQL, skipped: 2 query, 1 esql, 1 machine_learning, "
        "1 new_terms, 1 threshold)"
    ) in out
    # a type Kibana does not have is a mistake, not a rule to skip
    (folder / "typo.toml").write_text(_other_type("t", "eqll", "eql"))
    code, _, err = run(project, "queries", monkeypatch=monkeypatch)
    assert code == 1
    assert "queries/mixed/typo.toml:" in err
    assert "[rule.type]: only EQL rules (type = 'eql') are supported, got 'eqll'" in err


def test_broken_rules_are_reported_and_the_rest_validate(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    queries = project / "queries"
    (queries / "deep.toml").write_text(_deep("deep"))
    regex = (
        minimal_rule("rx")
        .replace(':  "regsvr32.exe"', "")
        .replace('process.name : "regsvr32.exe"', 'process.name regex "a(b"')
    )
    (queries / "regex.toml").write_text(regex)
    (queries / "torn.toml").write_bytes(minimal_rule("torn").encode()[:210])
    (queries / "nested_toml.toml").write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    code, out, err = run(project, "queries", monkeypatch=monkeypatch)
    assert code == 1
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    query_line = _deep("deep").splitlines().index("query = '''") + 2
    assert f"queries/deep.toml:{query_line} [rule.query]: query nested too deeply" in err
    assert any(
        line.startswith("queries/regex.toml:") and "[rule.query]: " in line and "regex" in line
        for line in lines
    ), err
    assert any(line.startswith("queries/torn.toml:") and "invalid TOML" in line for line in lines)
    assert any(line.startswith("queries/nested_toml.toml") for line in lines)
    assert "5 rule file(s)" in out
    assert "4 error(s)" in out  # good.toml validated and is not among them


def test_job_rule_paths_may_name_a_folder(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "queries" / "win").mkdir()
    (project / "queries" / "win" / "w.toml").write_text(minimal_rule("w"))
    (project / "jobs" / "default.toml").write_text(
        '[job]\nid = "d"\nschedule = { interval = "5m" }\nrules = { paths = ["queries"] }\n'
    )
    from eqlwatch.jobs import load_job, rule_paths

    job, errors = load_job(project / "jobs" / "default.toml")
    assert job is not None
    assert not errors
    assert [p.relative_to(project).as_posix() for p in rule_paths(job)] == [
        "queries/good.toml",
        "queries/win/w.toml",
    ]
    code, _, err = run(project, monkeypatch=monkeypatch)
    assert (code, err) == (0, "")


def test_syntax_error_points_where_the_bracket_is_missing(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    query = 'process where process.name : "regsvr32.exe" and\n  (process.args : "/s"\n'
    text = minimal_rule("syn").replace('process where process.name : "regsvr32.exe"\n', query)
    (project / "queries" / "syn.toml").write_text(text)
    code, _, err = run(project, "queries", monkeypatch=monkeypatch)
    assert code == 1
    line = text.splitlines().index('  (process.args : "/s"') + 1
    column = len('  (process.args : "/s"') + 1
    assert (
        f"queries/syn.toml:{line}:{column} [rule.query]: expected ')', but the query ended" in err
    )


def test_a_job_nested_too_deeply_is_its_error(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = '[job]\nid = "deep"\nx = ' + "[" * 5000 + "]" * 5000 + "\n"
    (project / "jobs" / "deep.toml").write_text(deep)
    code, out, err = run(project, monkeypatch=monkeypatch)
    assert code == 1
    assert "jobs/deep.toml: invalid TOML: nested too deeply" in err
    assert "1 rule file(s), 2 job file(s)" in out
