"""Email through Apprise to a real SMTP server on loopback, and the at-least-once property."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eqlwatch.actions import ActionConfig, LocalOutbox, Notifier
from eqlwatch.actions.messages import Message
from eqlwatch.actions.senders import SendError
from tests.actions.test_delivery import alert


class Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    from aiosmtpd.controller import Controller

    with socket.socket() as probe:  # a free loopback port (the controller needs a real one)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def test_email_carries_the_full_note(tmp_path: Path, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    url = (
        f"mailto://127.0.0.1:{port}?smtp=127.0.0.1&mode=insecure"
        "&from=eqlwatch@example.org&to=soc@example.org"
    )
    config = ActionConfig.model_validate({"name": "mail", "type": "apprise", "url": url})
    clock = lambda: datetime(2026, 12, 7, tzinfo=UTC)  # noqa: E731
    n = Notifier("default", [config], LocalOutbox(tmp_path / "o.json"), env={}, clock=clock)
    n.record((), [alert(9)])
    assert n.deliver().sent == 1
    (message,) = inbox.messages
    assert message["Subject"] == "[high] Rule r1"
    body = message.get_body(preferencelist=("plain", "html"))
    assert body is not None
    text = body.get_content()
    assert "the note of 9" in text
    assert "Host: ws-1" in text


class FlakySender:
    """Fails according to a script; records every message it took, by idempotency key."""

    def __init__(self, script: list[bool]) -> None:
        self.script = script
        self.taken: list[str] = []

    def __call__(
        self,
        action: ActionConfig,
        url: str,
        headers: Mapping[str, str],
        message: Message,
        key: str,
    ) -> None:
        ok = self.script.pop(0) if self.script else True
        if not ok:
            raise SendError("scripted failure")
        self.taken.append(key)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    batches=st.lists(st.lists(st.integers(0, 30), max_size=6), min_size=1, max_size=6),
    script=st.lists(st.booleans(), max_size=40),
    restarts=st.lists(st.booleans(), min_size=6, max_size=6),
)
def test_every_alert_is_delivered_at_least_once_across_failures_and_restarts(
    tmp_path_factory: pytest.TempPathFactory,
    batches: list[list[int]],
    script: list[bool],
    restarts: list[bool],
) -> None:
    folder = tmp_path_factory.mktemp("outbox")
    sender = FlakySender(list(script))
    config = ActionConfig.model_validate(
        {"name": "hook", "type": "webhook", "url": "http://x", "max_attempts": 1000}
    )
    now = [datetime(2026, 12, 7, tzinfo=UTC)]

    def make() -> Notifier:
        return Notifier(
            "default",
            [config],
            LocalOutbox(folder / "o.json"),
            env={},
            senders={"webhook": sender},
            clock=lambda: now[0],
        )

    n = make()
    for i, batch in enumerate(batches):
        if restarts[i % len(restarts)]:
            n = make()
        n.record((), [alert(k) for k in batch])
        n.deliver()
        now[0] += timedelta(hours=2)
    for _ in range(len(script) + 2):  # later runs drain what is still owed
        make().deliver()
        now[0] += timedelta(hours=2)
    from eqlwatch.actions.outbox import delivery_id

    wanted = {delivery_id("hook", [f"alert-{k:04d}"]) for b in batches for k in b}
    assert set(sender.taken) == wanted  # each delivered ...
    assert len(sender.taken) == len(wanted)  # ... and, with a single sender, exactly once
