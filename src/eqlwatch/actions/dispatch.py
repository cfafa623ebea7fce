"""From written alerts to delivered messages: filter, throttle, record, then send.

`record` runs right after a slice's alerts are durably written and only writes to the
outbox; `deliver` runs once the job's rules are done, sends what is due within a time
budget, and reschedules failures with exponential backoff (honouring `Retry-After`) until
an action's `max_attempts` is spent. A slow or failing target therefore never delays
alert writing or checkpoints, and nothing owed is forgotten across restarts.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from eqlwatch.actions.config import ActionConfig
from eqlwatch.actions.messages import Message, render
from eqlwatch.actions.outbox import Delivery, OutboxState, OutboxStore, delivery_id
from eqlwatch.actions.secrets import display_target, expand
from eqlwatch.actions.senders import Sender, SendError, send_apprise, send_webhook
from eqlwatch.errors import ConfigError
from eqlwatch.model import Alert

log = structlog.get_logger(__name__)
SENDERS: dict[str, Sender] = {"webhook": send_webhook, "apprise": send_apprise}


@dataclass
class DeliveryStats:
    """What one run did about notifications, for the summary and the run report."""

    recorded: int = 0
    throttled: int = 0
    sent: int = 0
    retried: int = 0
    gave_up: int = 0
    pending: int = 0
    errors: list[str] = field(default_factory=list)


def _field(document: Mapping[str, Any], path: str) -> Any:
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


@dataclass
class Notifier:
    """One job's actions over one outbox."""

    job_id: str
    actions: Sequence[ActionConfig]
    store: OutboxStore
    root: Path = Path(".")
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    senders: Mapping[str, Sender] = field(default_factory=lambda: dict(SENDERS))
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    budget_s: float = 60.0
    max_backoff: timedelta = timedelta(hours=1)
    stats: DeliveryStats = field(default_factory=DeliveryStats)
    _batch: dict[str, list[Mapping[str, Any]]] = field(default_factory=dict)

    def record(self, rule_tags: Sequence[str], alerts: Sequence[Alert]) -> None:
        """Owe a message for each wanted alert (per_alert), or batch it (summary)."""
        now = self.clock()
        tags = tuple(rule_tags)
        with self.store.transaction() as state:
            for action in self.actions:
                wanted = [
                    a.document
                    for a in alerts
                    if action.wants(str(_field(a.document, "eqlwatch.severity")), tags)
                ]
                if action.when == "summary":
                    self._batch.setdefault(action.name, []).extend(wanted)
                    continue
                for document in wanted:
                    key = (
                        action.name
                        + "|"
                        + "|".join(str(_field(document, f)) for f in action.throttle_by)
                    )
                    self._owe(state, action, [document], key, now)

    def close_batch(self) -> None:
        """Owe one summary message per summary action for the alerts of this run."""
        if not any(self._batch.values()):
            return
        now = self.clock()
        with self.store.transaction() as state:
            for action in self.actions:
                documents = self._batch.pop(action.name, [])
                if documents:
                    self._owe(state, action, documents, action.name, now)
        self._batch.clear()

    def _owe(
        self,
        state: OutboxState,
        action: ActionConfig,
        documents: Sequence[Mapping[str, Any]],
        throttle_key: str,
        now: datetime,
    ) -> None:
        ids = [str(_field(d, "eqlwatch.alert_id")) for d in documents]
        did = delivery_id(action.name, ids)
        if did in state.deliveries:
            return  # a replayed window: already owed, sent or throttled
        delivery = Delivery(did, action.name, ids, "", "", now, now)
        last = state.throttle.get(throttle_key)
        if action.throttle is not None and last is not None and now - last < action.throttle:
            delivery.status, delivery.finished = "throttled", now
            self.stats.throttled += 1
        else:
            try:
                message = render(action, documents, job_id=self.job_id, root=self.root)
                delivery.title, delivery.body = message.title, message.body
                if action.throttle is not None:
                    state.throttle[throttle_key] = now
                self.stats.recorded += 1
            except ConfigError as exc:
                delivery.status, delivery.finished, delivery.last_error = "gave_up", now, str(exc)
                self.stats.gave_up += 1
                self.stats.errors.append(str(exc))
                log.error("notification not rendered", action=action.name, error=str(exc))
        state.deliveries[did] = delivery

    def deliver(self) -> DeliveryStats:
        """Send what is due, within the budget; failures wait for a later run."""
        by_name = {a.name: a for a in self.actions}
        started = time.monotonic()
        with self.store.transaction() as state:
            for delivery in state.due(self.clock()):
                if time.monotonic() - started > self.budget_s:
                    break
                self._attempt(delivery, by_name.get(delivery.action))
            now = self.clock()
            self.stats.pending = sum(1 for d in state.deliveries.values() if d.status == "pending")
            state.prune(now)
        return self.stats

    def _attempt(self, delivery: Delivery, action: ActionConfig | None) -> None:
        now = self.clock()
        if action is None:
            self._give_up(delivery, now, "the action is no longer configured")
            return
        where = {
            "action": action.name,
            "target": display_target(action.url),
            "delivery": delivery.id,
        }
        retry_after: float | None = None
        try:
            url = expand(action.url, self.env, what=f"action {action.name!r} url")
            headers = {
                k: expand(v, self.env, what=f"action {action.name!r} header {k}")
                for k, v in action.headers.items()
            }
            message = Message(delivery.title, delivery.body)
            self.senders[action.kind](action, url, headers, message, delivery.id)
        except (SendError, ConfigError) as exc:
            error = str(exc)
            retry_after = exc.retry_after if isinstance(exc, SendError) else None
        else:
            delivery.status, delivery.finished, delivery.last_error = "sent", now, ""
            delivery.attempts += 1
            self.stats.sent += 1
            log.info("notification sent", **where)
            return
        delivery.attempts += 1
        delivery.last_error = error
        if delivery.attempts >= action.max_attempts:
            self._give_up(delivery, now, error)
            return
        wait = min(action.retry_backoff * 2 ** (delivery.attempts - 1), self.max_backoff)
        if retry_after is not None:
            wait = max(wait, timedelta(seconds=retry_after))
        delivery.next_try = now + wait
        self.stats.retried += 1
        log.warning(
            "notification failed; will retry",
            attempt=delivery.attempts,
            retry_in_s=wait.total_seconds(),
            error=error,
            **where,
        )

    def _give_up(self, delivery: Delivery, now: datetime, error: str) -> None:
        delivery.status, delivery.finished, delivery.last_error = "gave_up", now, error
        self.stats.gave_up += 1
        message = (
            f"action {delivery.action!r}: gave up on delivery {delivery.id} "
            f"after {delivery.attempts} attempt(s): {error}"
        )
        self.stats.errors.append(message)
        log.error(
            "notification given up", action=delivery.action, delivery=delivery.id, error=error
        )
