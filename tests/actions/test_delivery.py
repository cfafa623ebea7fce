"""Actions against real receivers on loopback: delivered at least once, nothing lost."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from eqlwatch.actions import ActionConfig, LocalOutbox, Notifier
from eqlwatch.actions.outbox import delivery_id
from eqlwatch.errors import DataError
from eqlwatch.model import Alert
from tests.actions.receiver import receiver

T0 = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def alert(n: int, *, severity: str = "high", rule: str = "r1", host: str = "ws-1") -> Alert:
    aid = f"alert-{n:04d}"
    document: dict[str, Any] = {
        "@timestamp": "2026-12-07T03:00:00Z",
        "rule": {"id": rule, "name": f"Rule {rule}"},
        "host": {"name": host},
        "event": {"risk_score": 73, "reason": f"reason {n}", "url": f"http://kibana/doc/{n}"},
        "eqlwatch": {"alert_id": aid, "severity": severity, "note": f"the note of {n}"},
    }
    return Alert(id=aid, rule_id=rule, document=document)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def notifier(tmp_path: Path, clock: Clock, **action: Any) -> Notifier:
    config = ActionConfig.model_validate({"name": "hook", "type": "webhook", **action})
    return Notifier(
        job_id="default",
        actions=[config],
        store=LocalOutbox(tmp_path / "outbox.json"),
        env={"HOOK_URL": action.get("_url", "")},
        clock=clock,
    )


def test_each_alert_is_posted_once_with_its_idempotency_key(tmp_path: Path) -> None:
    clock = Clock()
    with receiver() as rx:
        n = notifier(tmp_path, clock, url=rx.url)
        n.record(("tag",), [alert(1), alert(2), alert(3)])
        stats = n.deliver()
    assert stats.sent == 3
    assert stats.pending == 0
    bodies = [r.json() for r in rx.received]
    assert [b["alerts"][0]["id"] for b in bodies] == ["alert-0001", "alert-0002", "alert-0003"]
    keys = [r.headers["Idempotency-Key"] for r in rx.received]
    assert keys == [delivery_id("hook", [f"alert-{i:04d}"]) for i in (1, 2, 3)]
    assert bodies[0]["alerts"][0]["severity"] == "high"


@pytest.mark.parametrize("fault", ["500", "drop", "slow"])
def test_a_failing_target_is_retried_in_a_later_run_with_the_same_key(
    tmp_path: Path, fault: str
) -> None:
    clock = Clock()
    with receiver([fault, fault]) as rx:
        rx.slow_s = 1.5
        n = notifier(tmp_path, clock, url=rx.url, timeout="500ms")
        n.record((), [alert(1)])
        started = time.monotonic()
        first = n.deliver()
        assert time.monotonic() - started < 5  # a slow target does not hold the run
        assert first.sent == 0
        assert first.retried == 1
        assert first.pending == 1
        # Not due yet: nothing is sent again straight away.
        assert n.deliver().sent == 0
        clock.now += timedelta(seconds=31)
        n2 = notifier(tmp_path, clock, url=rx.url, timeout="500ms")  # a restart
        assert n2.deliver().retried == 1
        clock.now += timedelta(seconds=61)
        third = notifier(tmp_path, clock, url=rx.url, timeout="500ms").deliver()
    assert third.sent == 1
    assert third.pending == 0
    assert len(rx.received) == 1
    assert rx.received[0].headers["Idempotency-Key"] == delivery_id("hook", ["alert-0001"])


def test_429_retry_after_is_honoured(tmp_path: Path) -> None:
    clock = Clock()
    with receiver(["429"]) as rx:
        n = notifier(tmp_path, clock, url=rx.url)
        n.record((), [alert(1)])
        assert n.deliver().retried == 1
        clock.now += timedelta(seconds=100)  # past the backoff (30 s), before Retry-After
        assert n.deliver().sent == 0
        clock.now += timedelta(seconds=21)
        assert n.deliver().sent == 1


def test_a_target_that_stays_down_is_given_up_and_reported(tmp_path: Path) -> None:
    clock = Clock()
    with receiver() as rx:
        dead = rx.url
    n = notifier(tmp_path, clock, url=dead, max_attempts=3)
    n.record((), [alert(1)])
    for _ in range(3):
        n.deliver()
        clock.now += timedelta(hours=2)
    stats = n.stats
    assert stats.gave_up == 1
    assert stats.retried == 2
    assert stats.pending == 0
    assert "gave up" in stats.errors[0]
    assert "3 attempt(s)" in stats.errors[0]


def test_replaying_the_same_alerts_owes_nothing_new(tmp_path: Path) -> None:
    clock = Clock()
    with receiver() as rx:
        n = notifier(tmp_path, clock, url=rx.url)
        n.record((), [alert(1), alert(2)])
        n.deliver()
        n.record((), [alert(1), alert(2)])  # a window replayed after a crash
        n.deliver()
    assert len(rx.received) == 2


def test_throttle_sends_one_message_per_key_per_duration(tmp_path: Path) -> None:
    clock = Clock()
    with receiver() as rx:
        n = notifier(tmp_path, clock, url=rx.url, throttle="1h", throttle_by=["rule.id"])
        n.record((), [alert(1), alert(2), alert(3, rule="r2")])
        clock.now += timedelta(minutes=59)
        n.record((), [alert(4)])
        clock.now += timedelta(minutes=2)
        n.record((), [alert(5)])
        n.deliver()
    ids = [r.json()["alerts"][0]["id"] for r in rx.received]
    assert ids == ["alert-0001", "alert-0003", "alert-0005"]
    assert n.stats.throttled == 2


def test_summary_is_one_message_per_run_and_filters_apply(tmp_path: Path) -> None:
    clock = Clock()
    with receiver() as rx:
        n = notifier(tmp_path, clock, url=rx.url, when="summary", min_severity="medium", tags=["t"])
        n.record(("t",), [alert(1), alert(2, severity="low"), alert(3, severity="critical")])
        n.record(("other",), [alert(4)])
        n.close_batch()
        n.deliver()
    (only,) = rx.received
    body = only.json()
    assert body["count"] == 2
    assert [a["id"] for a in body["alerts"]] == ["alert-0001", "alert-0003"]


def test_secrets_come_from_the_environment_or_a_file_and_never_reach_logs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = Clock()
    token = "s3cr3t-token-value"
    (tmp_path / "token").write_text(token + "\n")
    with receiver(["500"]) as rx:
        config = ActionConfig.model_validate(
            {
                "name": "hook",
                "type": "webhook",
                "url": "${HOOK_URL}",
                "headers": {"Authorization": "Bearer ${HOOK_TOKEN}"},
            }
        )
        env = {"HOOK_URL": rx.url + "?key=" + token, "HOOK_TOKEN_FILE": str(tmp_path / "token")}
        n = Notifier("default", [config], LocalOutbox(tmp_path / "o.json"), env=env, clock=clock)
        n.record((), [alert(1)])
        n.deliver()  # 500: logged as a retry
        clock.now += timedelta(minutes=1)
        n.deliver()
    assert rx.received[0].headers["Authorization"] == f"Bearer {token}"
    captured = capsys.readouterr()
    assert "notification failed" in captured.out + captured.err
    assert token not in captured.out + captured.err
    assert token not in (tmp_path / "o.json").read_text()


def test_a_missing_secret_is_a_retryable_error_naming_the_variable(tmp_path: Path) -> None:
    clock = Clock()
    config = ActionConfig.model_validate({"name": "hook", "type": "webhook", "url": "${NOPE}"})
    n = Notifier("default", [config], LocalOutbox(tmp_path / "o.json"), env={}, clock=clock)
    n.record((), [alert(1)])
    n.deliver()
    with LocalOutbox(tmp_path / "o.json").transaction() as state:
        (delivery,) = state.deliveries.values()
    assert delivery.status == "pending"
    assert "NOPE" in delivery.last_error
    assert "NOPE_FILE" in delivery.last_error


def test_a_damaged_outbox_is_an_error_naming_the_file_not_a_fresh_start(tmp_path: Path) -> None:
    path = tmp_path / "outbox.json"
    path.write_text('{"deliveries": [{"id": ')
    with pytest.raises(DataError, match=r"outbox\.json.*damaged"), LocalOutbox(path).transaction():
        pass
    assert path.read_text() == '{"deliveries": [{"id": '


def test_apprise_json_target_gets_the_message_and_the_key(tmp_path: Path) -> None:
    clock = Clock()
    with receiver() as rx:
        config = ActionConfig.model_validate(
            {"name": "chat", "type": "apprise", "url": f"json://127.0.0.1:{rx.port}/hook"}
        )
        n = Notifier("default", [config], LocalOutbox(tmp_path / "o.json"), env={}, clock=clock)
        n.record((), [alert(7)])
        assert n.deliver().sent == 1
    (got,) = rx.received
    payload = got.json()
    assert payload["title"] == "[high] Rule r1"
    assert "*Rule r1*" in payload["message"]
    assert "http://kibana/doc/7" in payload["message"]
    assert got.headers["Idempotency-Key"] == delivery_id("chat", ["alert-0007"])
