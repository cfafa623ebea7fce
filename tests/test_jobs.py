from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from eqlwatch.jobs import (
    ElasticsearchAlerts,
    LocalSource,
    job_root,
    load_job,
    load_jobs,
    parse_job,
    rule_paths,
    select_rules,
)
from eqlwatch.rules import parse_rule
from eqlwatch.rules.model import Rule
from tests.rules.conftest import minimal_rule

BASE = """
[job]
id = "j1"
schedule = { interval = "5m" }
"""


def test_example_job_loads(repo_root: Path) -> None:
    job, errors = load_job(repo_root / "jobs" / "default.toml")
    assert errors == []
    assert job is not None
    assert job.id == "default"
    assert job.root == repo_root.resolve()
    assert job.schedule.interval == timedelta(minutes=5)
    assert job.ingest_delay == timedelta(seconds=30)
    assert isinstance(job.source, LocalSource)
    assert job.resolve("out/x") == repo_root.resolve() / "out" / "x"


def test_defaults_and_elasticsearch_targets(tmp_path: Path) -> None:
    text = BASE + '\n[job.alerts]\nbackend = "elasticsearch"\n'
    job, errors = parse_job(text, file="j.toml", root=tmp_path)
    assert errors == []
    assert job is not None
    assert isinstance(job.alerts, ElasticsearchAlerts)
    assert job.alerts.data_stream == "logs-eqlwatch.alerts-default"
    assert job.look_back == timedelta(hours=1)
    assert job.rules.paths == ("queries/*.toml",)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (BASE.replace('{ interval = "5m" }', "{}"), "job.schedule"),
        (
            BASE.replace('{ interval = "5m" }', '{ interval = "5m", cron = "* * * * *" }'),
            "job.schedule",
        ),
        (BASE.replace('{ interval = "5m" }', '{ cron = "every minute" }'), "job.schedule"),
        (BASE.replace('{ interval = "5m" }', '{ interval = "5 min" }'), "job.schedule.interval"),
        (BASE + "size = 0\n", "job.size"),
        (BASE + "sizes = 10\n", "job.sizes"),
        (BASE + 'root = "/etc"\n', "job.root"),
        (BASE + '[job.alerts]\nbackend = "kafka"\n', "job.alerts"),
        (BASE + '[job.source]\nbackend = "local"\npaths = []\n', "job.source.local.paths"),
        (BASE.replace('id = "j1"', 'id = "a b"'), "job.id"),
        ("[jobs]\nid = 'x'\n", "job"),
    ],
)
def test_errors_name_field(tmp_path: Path, text: str, field: str) -> None:
    job, errors = parse_job(text, file="jobs/x.toml", root=tmp_path)
    assert job is None
    assert errors
    assert errors[0].location is not None
    assert errors[0].location.file == "jobs/x.toml"
    assert errors[0].location.field == field


def test_error_carries_line(tmp_path: Path) -> None:
    text = BASE + "max_slices = 0\n"
    _, errors = parse_job(text, file="x", root=tmp_path)
    loc = errors[0].location
    assert loc is not None
    assert loc.line == text.splitlines().index("max_slices = 0") + 1


def test_toml_error(tmp_path: Path) -> None:
    job, errors = parse_job("[job\n", file="x", root=tmp_path)
    assert job is None
    assert errors[0].location is not None
    assert errors[0].location.line == 1


def test_job_root(tmp_path: Path) -> None:
    (tmp_path / "jobs").mkdir()
    assert job_root(tmp_path / "jobs" / "a.toml") == tmp_path.resolve()
    assert job_root(tmp_path / "a.toml") == tmp_path.resolve()


def test_load_jobs_duplicates(tmp_path: Path) -> None:
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "a.toml").write_text(BASE)
    (tmp_path / "jobs" / "b.toml").write_text(BASE)
    jobs, errors = load_jobs([tmp_path / "jobs"])
    assert [j.id for j in jobs] == ["j1"]
    assert "duplicate job id" in errors[0].message


def _rule(rule_id: str, tags: str, path: str, enabled: bool = True) -> Rule:
    text = minimal_rule(rule_id).replace('tags = ["eqlwatch"]', f"tags = {tags}")
    if not enabled:
        text += "\n[eqlwatch]\nenabled = false\n"
    rule, errors = parse_rule(text, file=path)
    assert rule is not None, errors
    return rule


def test_select_rules(tmp_path: Path) -> None:
    text = BASE + 'rules = { tags = ["eqlwatch"], exclude = ["r3", "queries/noisy_*.toml"] }\n'
    job, _ = parse_job(text, file="x", root=tmp_path)
    assert job is not None
    rules = [
        _rule("r1", '["eqlwatch", "x"]', "queries/a.toml"),
        _rule("r2", '["other"]', "queries/b.toml"),
        _rule("r3", '["eqlwatch"]', "queries/c.toml"),
        _rule("r4", '["eqlwatch"]', "queries/noisy_one.toml"),
        _rule("r5", '["eqlwatch"]', "queries/off.toml", enabled=False),
        _rule("r6", '["eqlwatch"]', "queries/f.toml"),
    ]
    assert [r.rule_id for r in select_rules(job, rules)] == ["r1", "r6"]


def test_select_without_tags_takes_all_enabled(tmp_path: Path) -> None:
    job, _ = parse_job(BASE, file="x", root=tmp_path)
    assert job is not None
    rules = [_rule("a", "[]", "q/a.toml"), _rule("b", '["t"]', "q/b.toml")]
    assert [r.rule_id for r in select_rules(job, rules)] == ["a", "b"]


def test_rule_paths_globs_relative_to_root(tmp_path: Path) -> None:
    (tmp_path / "queries").mkdir()
    for name in ("b.toml", "a.toml", "c.txt"):
        (tmp_path / "queries" / name).write_text("")
    text = BASE + 'rules = { paths = ["queries/*.toml", "queries/a.toml"] }\n'
    job, _ = parse_job(text, file="x", root=tmp_path)
    assert job is not None
    assert [p.name for p in rule_paths(job)] == ["a.toml", "b.toml"]


def test_exclude_globs_match_whole_path_segments(tmp_path: Path) -> None:
    text = BASE + 'rules = { exclude = ["a.toml"] }\n'
    job, _ = parse_job(text, file="x", root=tmp_path)
    assert job is not None
    rules = [_rule("r1", "[]", "/repo/queries/a.toml"), _rule("r2", "[]", "/repo/queries/ba.toml")]
    assert [r.rule_id for r in select_rules(job, rules)] == ["r2"]
