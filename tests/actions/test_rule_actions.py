"""A rule's own `[[eqlwatch.actions]]` replace the job's for its alerts: through the CLI on
the demo data, with loopback receivers; validation names the rule file and the field."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from eqlwatch.actions import ActionConfig, LocalOutbox, Notifier
from eqlwatch.actions.outbox import delivery_id
from eqlwatch.cli.app import app
from eqlwatch.demo import write_demo_data
from tests.actions.receiver import receiver
from tests.actions.test_delivery import Clock, alert

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
SCRIPTLET = "4c620bb3-0e42-432d-9ae8-e4a0061817bf"  # queries/regsvr32_scriptlet_execution.toml
RENAMED = "f67d2470-0d41-4d8f-b4a1-4fb1982e2231"  # queries/regsvr32_renamed.toml
JOB_ACTION = (
    '[[job.actions]]\nname = "soc"\ntype = "webhook"\nurl = "http://127.0.0.1:${JOB_PORT}/job"\n'
)
RULE_ACTION = (
    "\n[[eqlwatch.actions]]\n"
    'name = "soc"\ntype = "webhook"\nurl = "http://127.0.0.1:${RULE_PORT}/rule"\n'
)


def _project(tmp_path: Path, repo_root: Path) -> Path:
    for name in ("queries", "templates", "jobs", "tests/fixtures/rulepack"):
        shutil.copytree(repo_root / name, tmp_path / name)
    write_demo_data(tmp_path / "data" / "demo", end=NOW - timedelta(minutes=1))
    job = tmp_path / "jobs" / "default.toml"
    job.write_text(job.read_text() + "\n" + JOB_ACTION)
    scriptlet = tmp_path / "queries" / "regsvr32_scriptlet_execution.toml"
    scriptlet.write_text(scriptlet.read_text() + RULE_ACTION)
    renamed = tmp_path / "queries" / "regsvr32_renamed.toml"  # silenced: an empty list
    renamed.write_text(renamed.read_text().replace("[eqlwatch]\n", "[eqlwatch]\nactions = []\n"))
    return tmp_path


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False, env={"COLUMNS": "200"})
    return result.exit_code, result.output


def _alerts_by_rule(project: Path) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for line in (project / "out" / "alerts.ndjson").read_bytes().splitlines():
        doc = orjson.loads(line)
        out.setdefault(doc["rule"]["id"], set()).add(doc["eqlwatch"]["alert_id"])
    return out


def test_a_rule_s_actions_replace_the_job_s_for_its_alerts(
    tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(tmp_path, repo_root)
    monkeypatch.chdir(project)
    with receiver() as to_job, receiver() as to_rule:
        monkeypatch.setenv("JOB_PORT", str(to_job.port))
        monkeypatch.setenv("RULE_PORT", str(to_rule.port))
        code, out = _invoke("run", "--once", "--now", NOW.isoformat())
        assert code == 0, out
        code, again = _invoke("run", "--once", "--now", (NOW + timedelta(minutes=5)).isoformat())
        assert code == 0, again
    by_rule = _alerts_by_rule(project)
    assert by_rule[SCRIPTLET]  # both rules did alert
    assert by_rule[RENAMED]
    others = set().union(
        *(ids for rule, ids in by_rule.items() if rule not in (SCRIPTLET, RENAMED))
    )
    to_rule_ids = [r.json()["alerts"][0]["id"] for r in to_rule.received]
    to_job_ids = [r.json()["alerts"][0]["id"] for r in to_job.received]
    assert sorted(to_rule_ids) == sorted(by_rule[SCRIPTLET])  # the rule's target, once each
    assert sorted(to_job_ids) == sorted(
        others
    )  # the job's target: every other rule but the silenced
    assert not by_rule[RENAMED] & set(to_job_ids + to_rule_ids)
    # The rule's route has its own deliveries (ids, idempotency keys), never the job's.
    keys = {r.json()["alerts"][0]["id"]: r.headers["Idempotency-Key"] for r in to_rule.received}
    assert all(k == delivery_id(f"soc@{SCRIPTLET}", [a]) for a, k in keys.items())
    assert f"notifications: {len(by_rule[SCRIPTLET]) + len(others)} sent" in out


def test_actions_test_sends_through_the_rules_actions_too(
    tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(tmp_path, repo_root)
    monkeypatch.chdir(project)
    with receiver() as to_job, receiver() as to_rule:
        monkeypatch.setenv("JOB_PORT", str(to_job.port))
        monkeypatch.setenv("RULE_PORT", str(to_rule.port))
        code, out = _invoke("actions", "test", "default")
    assert code == 0, out
    assert "sent   soc (webhook" in out
    assert f"sent   soc@{SCRIPTLET} (webhook" in out
    assert len(to_job.received) == len(to_rule.received) == 1


@pytest.mark.parametrize(
    ("table", "field", "message"),
    [
        ('name = "x"\ntype = "pager"\nurl = "http://x"\n', "eqlwatch.actions[0].type",
         "'apprise' or 'webhook'"),
        ('name = "x"\ntype = "webhook"\nurl = "http://x"\nthrotle = "1h"\n',
         "eqlwatch.actions[0].throtle", "Extra inputs"),
        ('name = "x"\ntype = "webhook"\nurl = "http://x"\nthrottle = "soon"\n',
         "eqlwatch.actions[0].throttle", ""),
        ('name = "x y"\ntype = "webhook"\nurl = "http://x"\n', "eqlwatch.actions[0].name", ""),
    ],
)  # fmt: skip
def test_a_bad_rule_action_is_refused_naming_the_rule_file_and_field(
    tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch, table: str, field: str,
    message: str,
) -> None:  # fmt: skip
    project = _project(tmp_path, repo_root)
    scriptlet = project / "queries" / "regsvr32_scriptlet_execution.toml"
    scriptlet.write_text(
        scriptlet.read_text().replace(RULE_ACTION, "\n[[eqlwatch.actions]]\n" + table)
    )
    monkeypatch.chdir(project)
    code, out = _invoke("validate", "queries")
    assert code == 1, out
    flat = " ".join(out.split())  # rich may wrap a long path
    assert "regsvr32_scriptlet_execution.toml" in flat
    assert field in flat
    assert message in flat


def test_two_rule_actions_of_one_name_are_refused(
    tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(tmp_path, repo_root)
    scriptlet = project / "queries" / "regsvr32_scriptlet_execution.toml"
    scriptlet.write_text(scriptlet.read_text() + RULE_ACTION)
    monkeypatch.chdir(project)
    code, out = _invoke("validate", "queries/regsvr32_scriptlet_execution.toml")
    assert code == 1
    assert "action names must be distinct within a rule" in " ".join(out.split())


def test_a_summary_batch_survives_a_restart_before_it_is_closed(tmp_path: Path) -> None:
    """Summary alerts wait in the outbox, not in memory: a run killed after recording them
    (its checkpoint moved) still owes the summary, which the next run sends."""
    clock = Clock()
    config = ActionConfig.model_validate(
        {"name": "digest", "type": "webhook", "url": "${HOOK}", "when": "summary"}
    )
    with receiver() as rx:
        env = {"HOOK": rx.url}
        first = Notifier("default", [], LocalOutbox(tmp_path / "o.json"), env=env, clock=clock,
                         rule_actions={"r1": [config]})  # fmt: skip
        first.record((), [alert(1), alert(2)])
        first.record((), [alert(2)])  # a replayed slice adds nothing to the batch
        # ... the process dies here; a new one starts:
        second = Notifier("default", [], LocalOutbox(tmp_path / "o.json"), env=env, clock=clock,
                          rule_actions={"r1": [config]})  # fmt: skip
        second.record((), [alert(3, rule="r2")])  # r2 has no action (job's list is empty)
        second.close_batch()
        second.deliver()
    (only,) = rx.received
    assert [a["id"] for a in only.json()["alerts"]] == ["alert-0001", "alert-0002"]
    assert only.headers["Idempotency-Key"] == delivery_id("digest@r1", ["alert-0001", "alert-0002"])


def test_a_rule_that_does_not_load_keeps_its_messages_waiting(tmp_path: Path) -> None:
    """A typo in a rule file must not cost its owed messages: they wait (pending, not given
    up) until the rule loads again, and then go out."""
    clock = Clock()
    per_alert = ActionConfig.model_validate({"name": "hook", "type": "webhook", "url": "${H}"})
    summary = per_alert.model_copy(update={"name": "digest", "when": "summary"})

    def notifier(env: dict[str, str], loaded: bool) -> Notifier:
        return Notifier("default", [], LocalOutbox(tmp_path / "o.json"), env=env, clock=clock,
                        rule_actions={"r1": [per_alert, summary]} if loaded else {},
                        known_rules=frozenset({"r1"} if loaded else set()))  # fmt: skip

    with receiver(["500"]) as rx:
        first = notifier({"H": rx.url}, loaded=True)
        first.record((), [alert(1)])
        assert first.deliver().retried == 1  # owed, and its first try failed
        broken = notifier({"H": rx.url}, loaded=False)  # the rule file has a typo now
        broken.record((), [alert(2)])  # (a rule that did not load has no alerts anyway)
        clock.now += timedelta(hours=2)
        broken.close_batch()
        stats = broken.deliver()
        assert (stats.gave_up, stats.sent, stats.pending) == (0, 0, 1)
        fixed = notifier({"H": rx.url}, loaded=True)
        fixed.record((), [alert(3)])
        fixed.close_batch()
        stats = fixed.deliver()
    assert (stats.gave_up, stats.pending) == (0, 0)
    per = sorted(r.json()["alerts"][0]["id"] for r in rx.received if r.json()["count"] == 1)
    assert per == ["alert-0001", "alert-0003"]
    (digest,) = [r.json() for r in rx.received if r.json()["count"] > 1]
    assert [a["id"] for a in digest["alerts"]] == ["alert-0001", "alert-0003"]
