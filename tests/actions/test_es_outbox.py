"""The outbox of a job whose state lives in Elasticsearch, over real HTTP to the stand-in:
kept in the state index, written with optimistic concurrency (two writers merge, none is
lost), faults (500, down, restart) lose no message and send none twice but with its key."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from eqlwatch.actions import ActionConfig, Notifier
from eqlwatch.actions.outbox import Delivery
from eqlwatch.backends.elasticsearch import ElasticsearchStateStore, setup_cluster
from eqlwatch.backends.elasticsearch.outbox import ElasticsearchOutbox
from eqlwatch.cli.app import app
from eqlwatch.demo import write_demo_data
from eqlwatch.errors import DataError, RetryableBackendError
from eqlwatch.settings import RUNS_DATA_STREAM
from tests.actions.receiver import receiver
from tests.actions.test_delivery import Clock, alert
from tests.backends.es_cluster import fast_client
from tests.fakes.es_server import FakeElasticsearch

STATE = "eqlwatch-state-x"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
def fake() -> Iterator[FakeElasticsearch]:
    server = FakeElasticsearch().start()
    client = fast_client(server.url)
    setup_cluster(client, alerts_data_stream="logs-eqlwatch.alerts-outbox",
                  runs_data_stream=RUNS_DATA_STREAM, state_index=STATE)  # fmt: skip
    client.close()
    yield server
    server.stop()


def _outbox_doc(fake: FakeElasticsearch, job: str = "default") -> dict[str, object]:
    found = fake.store.get(STATE, f"outbox:{job}")
    assert found is not None
    return found[1].source


def _delivery(key: str, status: str = "pending", attempts: int = 0) -> Delivery:
    return Delivery(key, "hook", [key], "t", "b", NOW, NOW, status, attempts)  # type: ignore[arg-type]


def test_notifications_of_an_es_job_live_in_its_state_index(
    fake: FakeElasticsearch, tmp_path: Path
) -> None:
    clock = Clock()
    store = ElasticsearchStateStore(fast_client(fake.url), STATE).outbox("default")
    config = ActionConfig.model_validate({"name": "hook", "type": "webhook", "url": "${HOOK}"})
    with receiver(["500"]) as rx:
        env = {"HOOK": rx.url}
        first = Notifier("default", [config], store, env=env, clock=clock)
        first.record((), [alert(1), alert(2)])
        assert first.deliver().retried == 1  # one 500: it waits in the index
        doc = _outbox_doc(fake)
        assert doc["type"] == "outbox"
        outbox = doc["outbox"]
        assert isinstance(outbox, dict)
        assert sorted(d["status"] for d in outbox["deliveries"]) == ["pending", "sent"]
        clock.now += timedelta(minutes=5)
        again = Notifier("default", [config], store, env=env, clock=clock)  # a restart
        again.record((), [alert(1), alert(2)])  # a replayed window owes nothing new
        assert again.deliver().sent == 1
    assert sorted(r.json()["alerts"][0]["id"] for r in rx.received) == ["alert-0001", "alert-0002"]
    assert not list(tmp_path.iterdir())  # nothing on local disk


def test_two_writers_at_once_merge_and_lose_nothing(fake: FakeElasticsearch) -> None:
    client = fast_client(fake.url)
    one = ElasticsearchOutbox(client, STATE, "default")
    with one.transaction() as state:
        state.deliveries["a"] = _delivery("a")
        state.deliveries["b"] = _delivery("b")
        state.batches["digest"] = [{"eqlwatch": {"alert_id": "x1"}}]
    two = ElasticsearchOutbox(client, STATE, "default")
    with one.transaction() as mine:
        with two.transaction() as theirs:  # commits first: ours gets a 409
            theirs.deliveries["b"].status, theirs.deliveries["b"].attempts = "pending", 1
            theirs.deliveries["c"] = _delivery("c")
            theirs.throttle["hook|r1"] = NOW
            theirs.batches["digest"].append({"eqlwatch": {"alert_id": "x2"}})
        mine.deliveries["a"].status, mine.deliveries["a"].attempts = "sent", 1
        mine.deliveries["b"].status, mine.deliveries["b"].attempts = "sent", 1
        mine.deliveries["d"] = _delivery("d")
        mine.throttle["hook|r1"] = NOW + timedelta(minutes=1)
        del mine.batches["digest"]  # closed into a message: x1 only
    with one.transaction() as final:
        pass
    assert {k: d.status for k, d in final.deliveries.items()} == {
        "a": "sent", "b": "sent", "c": "pending", "d": "pending"
    }  # fmt: skip
    assert final.throttle["hook|r1"] == NOW + timedelta(minutes=1)
    assert final.batches == {"digest": [{"eqlwatch": {"alert_id": "x2"}}]}
    writes = [r for r in fake.log if "/outbox" in r.path and r.method in ("PUT", "POST")]
    assert len(writes) == 4  # create, theirs, ours refused (409), ours merged


def test_a_failing_or_damaged_outbox_document_is_an_error_not_a_fresh_start(
    fake: FakeElasticsearch,
) -> None:
    client = fast_client(fake.url, max_retries=0)
    store = ElasticsearchOutbox(client, STATE, "default")
    config = ActionConfig.model_validate({"name": "hook", "type": "webhook", "url": "http://x"})
    notifier = Notifier("default", [config], store, env={}, clock=Clock())
    fake.faults.add("status", path="outbox(:|%3A)", method="PUT|POST", status=500)
    with pytest.raises(RetryableBackendError, match="save outbox"):
        notifier.record((), [alert(1)])
    assert notifier.stats.recorded == 0  # counted only once committed
    assert fake.store.get(STATE, "outbox:default") is None
    notifier.record((), [alert(1)])  # the retry
    assert notifier.stats.recorded == 1
    fake.store.write(STATE, "outbox:default", {"type": "outbox", "outbox": {"x": 1}},
                     op_type="index")  # fmt: skip
    with pytest.raises(DataError, match="outbox is damaged") as caught:
        notifier.record((), [alert(2)])
    assert f"{STATE}/outbox:default.outbox" in str(caught.value)
    fake.stop()
    with pytest.raises(RetryableBackendError, match="read outbox"):
        notifier.deliver()


# -- through the CLI: local events and alerts, state (and so the outbox) in Elasticsearch --


def _project(tmp_path: Path, repo_root: Path, rules: str = "queries/*.toml") -> Path:
    for name in ("queries", "templates", "jobs"):
        shutil.copytree(repo_root / name, tmp_path / name)
    write_demo_data(tmp_path / "data" / "demo", end=NOW - timedelta(minutes=1))
    job = tmp_path / "jobs" / "default.toml"
    text = job.read_text().replace(
        '[job.state]\nbackend = "local"\npath = "state/state.json"',
        f'[job.state]\nbackend = "elasticsearch"\nindex = "{STATE}"',
    )
    assert STATE in text
    text = text.replace('paths = ["queries/*.toml"]', f'paths = ["{rules}"]')
    job.write_text(
        text + "\n[[job.actions]]\n"
        'name = "hook"\ntype = "webhook"\nurl = "http://127.0.0.1:${HOOK_PORT}/hook"\n'
        'retry_backoff = "1ms"\n'
    )
    return tmp_path


def _run(when: datetime) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, ["run", "--once", "--now", when.isoformat(), "--log-format", "json"],
        catch_exceptions=False, env={"COLUMNS": "200"},
    )  # fmt: skip
    return result.exit_code, result.output


def test_run_once_with_state_in_elasticsearch_announces_every_alert_through_faults(
    fake: FakeElasticsearch,
    tmp_path: Path,
    repo_root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = _project(tmp_path, repo_root)
    monkeypatch.chdir(project)
    for name in ("ELASTICSEARCH_API_KEY", "ELASTICSEARCH_CLOUD_ID", "ELASTICSEARCH_USERNAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ELASTICSEARCH_URL", fake.url)
    with receiver() as dead:
        monkeypatch.setenv("HOOK_PORT", str(dead.port))
    # Run 1: the target is down and the outbox's first writes answer 500 (retried by the
    # runner within the run): alerts and checkpoints go ahead, every message is owed.
    fake.faults.add("status", path="outbox(:|%3A)", method="PUT|POST", status=500, times=2)
    code, out = _run(NOW)
    assert code == 0, out
    assert fake.faults.fired.get("status") == 2
    lines = (project / "out" / "alerts.ndjson").read_bytes().splitlines()
    alerts = {orjson.loads(line)["eqlwatch"]["alert_id"] for line in lines}
    assert alerts
    assert f"0 sent, {len(alerts)} to retry" in out
    assert not list((project / "state").glob("outbox-*"))  # in the index, not on disk
    owed = _outbox_doc(fake)["outbox"]
    assert isinstance(owed, dict)
    assert {d["alert_ids"][0] for d in owed["deliveries"]} == alerts
    # Elasticsearch restarts (its data kept); the target is back.
    fake.stop()
    fake.start()
    with receiver() as rx:
        monkeypatch.setenv("HOOK_PORT", str(rx.port))
        code, out = _run(NOW + timedelta(minutes=10))
        assert code == 0, out
        code, out = _run(NOW + timedelta(minutes=20))
        assert code == 0, out
    announced = [r.json()["alerts"][0]["id"] for r in rx.received]
    assert sorted(announced) == sorted(alerts)  # each once, none lost
    keys = {r.headers["Idempotency-Key"] for r in rx.received}
    assert len(keys) == len(alerts)
    assert json.dumps(_outbox_doc(fake)).count('"pending"') == 0


def test_an_outbox_that_stays_unwritable_holds_the_checkpoint_then_catches_up(
    fake: FakeElasticsearch,
    tmp_path: Path,
    repo_root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Recording failed after the alerts were written: the slice is replayed next run (its
    alerts exist already) and its messages are owed then, not forgotten."""
    # One rule: the runner backs off 1 + 2 + 4 s before it gives the rule up.
    project = _project(tmp_path, repo_root, "queries/regsvr32_scriptlet_execution.toml")
    monkeypatch.chdir(project)
    for name in ("ELASTICSEARCH_API_KEY", "ELASTICSEARCH_CLOUD_ID", "ELASTICSEARCH_USERNAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ELASTICSEARCH_URL", fake.url)
    fake.faults.add("status", path="outbox(:|%3A)", method="PUT|POST", status=503, times=10_000)
    with receiver() as rx:
        monkeypatch.setenv("HOOK_PORT", str(rx.port))
        code, out = _run(NOW)
        assert code == 1, out
        assert "record notifications failed" in out
        assert not rx.received
        lines = (project / "out" / "alerts.ndjson").read_bytes().splitlines()
        alerts = {orjson.loads(line)["eqlwatch"]["alert_id"] for line in lines}
        fake.faults.clear()
        code, out = _run(NOW + timedelta(minutes=5))
        assert code == 0, out
    lines = (project / "out" / "alerts.ndjson").read_bytes().splitlines()
    assert {orjson.loads(line)["eqlwatch"]["alert_id"] for line in lines} == alerts
    assert len(lines) == len(alerts)  # the replay wrote no alert twice
    announced = sorted(r.json()["alerts"][0]["id"] for r in rx.received)
    assert announced == sorted(alerts)
