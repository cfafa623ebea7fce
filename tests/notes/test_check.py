from __future__ import annotations

import shutil
from pathlib import Path

from eqlwatch.notes import check_templates
from eqlwatch.rules import parse_rule
from tests.rules.conftest import minimal_rule


def copy_templates(tmp_path: Path, repo_root: Path) -> Path:
    folder = tmp_path / "templates"
    shutil.copytree(repo_root / "templates", folder)
    return folder


def test_shipped_templates_pass(tmp_path: Path, repo_root: Path) -> None:
    assert check_templates(repo_root / "templates") == []


def test_syntax_error_has_line(tmp_path: Path, repo_root: Path) -> None:
    folder = copy_templates(tmp_path, repo_root)
    (folder / "broken.md.j2").write_text("ok\n{% for x in %}\n")
    errors = check_templates(folder)
    assert len(errors) == 1
    assert errors[0].location is not None
    assert errors[0].location.file == str(folder / "broken.md.j2")
    assert errors[0].location.line == 2
    assert "syntax" in errors[0].message


def test_render_error_is_found(tmp_path: Path, repo_root: Path) -> None:
    folder = copy_templates(tmp_path, repo_root)
    (folder / "typo.md.j2").write_text("line one\n{{ facts.hots }}\n")
    errors = check_templates(folder)
    assert len(errors) == 1
    assert "synthetic alert" in errors[0].message
    assert errors[0].location is not None
    assert errors[0].location.line == 2


def test_rule_template_checked_with_that_rule(tmp_path: Path, repo_root: Path) -> None:
    folder = copy_templates(tmp_path, repo_root)
    (folder / "mine.md.j2").write_text("{{ rule.name }} {{ rule.metadata.maturity }}\n")
    ok, _ = parse_rule(minimal_rule(extra='[eqlwatch]\ntemplate = "mine.md.j2"\n'), file="q/a.toml")
    missing, _ = parse_rule(
        minimal_rule("r2", extra='[eqlwatch]\ntemplate = "gone.md.j2"\n'), file="q/b.toml"
    )
    assert ok is not None
    assert missing is not None
    errors = check_templates(folder, [ok, missing])
    assert len(errors) == 1
    assert errors[0].location is not None
    assert errors[0].location.file == "q/b.toml"
    assert errors[0].location.field == "eqlwatch.template"
