"""`min_stack_version`: declared by every rule of the pack, refused when malformed or below
what the query needs (`sample`: 8.6), checked through `eqlwatch validate`."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from eqlwatch.cli.app import app
from eqlwatch.rules import load_rules
from eqlwatch.rules.stack import parse_version, query_needs, required_stack_version

RULE = """[metadata]
creation_date = "2026/03/01"
{meta}
[rule]
rule_id = "r1"
name = "Sample rule"
description = "test"
type = "eql"
language = "eql"
index = ["logs-*"]
query = '''{query}'''
risk_score = 50
severity = "medium"
"""
SAMPLE = "sample by host.name [process where true] [network where true]"


def _validate(tmp_path: Path, meta: str, query: str = SAMPLE) -> tuple[int, str]:
    (tmp_path / "rule.toml").write_text(RULE.format(meta=meta, query=query))
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "rule.toml")],
                                env={"COLUMNS": "200"})  # fmt: skip
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ('min_stack_version = "8.5.0"', "min_stack_version 8.5.0 is below 8.6.0, which `sample`"),
        ('min_stack_version = "eight"', "not a stack version: 'eight'"),
    ],
)
def test_validate_refuses_a_wrong_declaration_naming_file_line_field(
    tmp_path: Path, meta: str, message: str
) -> None:
    code, out = _validate(tmp_path, meta)
    assert code == 1, out
    assert message in out
    assert "rule.toml:3" in out  # the line of min_stack_version
    assert "metadata.min_stack_version" in out


@pytest.mark.parametrize(
    ("meta", "query", "needed"),
    [
        ('min_stack_version = "8.6"', SAMPLE, "8.6.0"),
        ("", SAMPLE, "8.6.0"),  # undeclared: what the query needs
        ('min_stack_version = "9.1.0"', SAMPLE, "9.1.0"),
        ("", "process where true", None),
        ('min_stack_version = "8.2.0"', "process where true", "8.2.0"),
    ],
)
def test_accepted_declarations_and_what_a_rule_needs(
    tmp_path: Path, meta: str, query: str, needed: str | None
) -> None:
    code, out = _validate(tmp_path, meta, query)
    assert code == 0, out
    (rule,) = load_rules([tmp_path / "rule.toml"]).rules
    assert required_stack_version(rule) == needed


def test_every_pack_rule_declares_a_version_its_query_runs_on(repo_root: Path) -> None:
    loaded = load_rules([repo_root / "queries"])
    assert loaded.errors == ()
    assert loaded.rules
    for rule in loaded.rules:
        declared = rule.metadata.min_stack_version
        assert declared is not None, rule.path
        assert parse_version(declared) >= (8, 9, 0), rule.path  # eqlwatch's supported floor
        needs = query_needs(rule)
        assert needs is None or parse_version(declared) >= needs[0]
    assert any(query_needs(r) for r in loaded.rules)  # the pack's sample rule is checked


def _validate_samples(tmp_path: Path, meta: str, query: str, value: int) -> tuple[int, str]:
    text = RULE.format(meta=meta, query=query) + f"\n[eqlwatch]\nmax_samples_per_key = {value}\n"
    (tmp_path / "rule.toml").write_text(text)
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "rule.toml")],
                                env={"COLUMNS": "200"})  # fmt: skip
    return result.exit_code, result.output


def test_max_samples_per_key_needs_8_7_and_a_sample_query(tmp_path: Path) -> None:
    code, out = _validate_samples(tmp_path, "", SAMPLE, 4)
    assert code == 0, out
    (rule,) = load_rules([tmp_path / "rule.toml"]).rules
    assert rule.eqlwatch.max_samples_per_key == 4
    assert required_stack_version(rule) == "8.7.0"
    code, out = _validate_samples(tmp_path, 'min_stack_version = "8.6.0"', SAMPLE, 4)
    assert code == 1, out
    assert "below 8.7.0, which `max_samples_per_key` needs" in out


def test_max_samples_per_key_on_a_non_sample_query_is_an_error_naming_its_line(
    tmp_path: Path,
) -> None:
    code, out = _validate_samples(tmp_path, "", "process where true", 2)
    assert code == 1, out
    assert "max_samples_per_key applies only to `sample` queries" in out
    assert "rule.toml:16" in out
    assert "eqlwatch.max_samples_per_key" in out
    code, out = _validate_samples(tmp_path, "", SAMPLE, 0)
    assert code == 1, out
    assert "eqlwatch.max_samples_per_key" in out
