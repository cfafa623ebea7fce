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
from eqlwatch.rules.fields import get_field

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


@dataclass
class _Tallies:
    """Counts of one outbox transaction, added to the run's stats only once it committed
    (a transaction that failed and is retried must not count its messages twice)."""

    recorded: int = 0
    throttled: int = 0
    gave_up: int = 0
    errors: list[str] = field(default_factory=list)

    def add_to(self, stats: DeliveryStats) -> None:
        stats.recorded += self.recorded
        stats.throttled += self.throttled
        stats.gave_up += self.gave_up
        stats.errors.extend(self.errors)


@dataclass
class Notifier:
    """One job's actions over one outbox.

    `rule_actions` holds the rules that declare their own `[[eqlwatch.actions]]`: for their
    alerts these replace the job's (an empty list: the rule announces nothing). A rule's
    action is routed as `name@rule_id`, so it never shares deliveries, throttle marks or a
    summary with a job action of the same name.
    """

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
    rule_actions: Mapping[str, Sequence[ActionConfig]] = field(default_factory=dict)
    # The rules the job loaded this time (None: not known). A rule's messages wait while
    # its file does not load (a typo), instead of being given up.
    known_rules: frozenset[str] | None = None

    def _waits(self, route: str) -> bool:
        """Whether a route with no action belongs to a rule that did not load this time."""
        if "@" not in route or self.known_rules is None:
            return False
        return route.split("@", 1)[1] not in self.known_rules

    def routes_for(self, rule_id: str) -> list[tuple[str, ActionConfig]]:
        """The (route key, action) pairs that announce this rule's alerts."""
        own = self.rule_actions.get(rule_id)
        if own is None:
            return [(a.name, a) for a in self.actions]
        return [(f"{a.name}@{rule_id}", a) for a in own]

    def routes(self) -> dict[str, ActionConfig]:
        """Every route of the job: its own actions and those of its rules."""
        out = {a.name: a for a in self.actions}
        for rule_id in self.rule_actions:
            out.update(self.routes_for(rule_id))
        return out

    def record(self, rule_tags: Sequence[str], alerts: Sequence[Alert]) -> None:
        """Owe a message for each wanted alert (per_alert), or add it to its action's summary
        batch, kept in the outbox too (a crash before the summary goes out loses nothing)."""
        now = self.clock()
        tags = tuple(rule_tags)
        tallies = _Tallies()
        with self.store.transaction() as state:
            for alert in alerts:
                severity = str(get_field(alert.document, "eqlwatch.severity"))
                for route, action in self.routes_for(alert.rule_id):
                    if not action.wants(severity, tags):
                        continue
                    if action.when == "summary":
                        batch = state.batches.setdefault(route, [])
                        if all(d.get("eqlwatch", {}).get("alert_id") != alert.id for d in batch):
                            batch.append(dict(alert.document))
                        continue
                    key = (
                        route
                        + "|"
                        + "|".join(str(get_field(alert.document, f)) for f in action.throttle_by)
                    )
                    self._owe(state, route, action, [alert.document], key, now, tallies)
        tallies.add_to(self.stats)

    def close_batch(self) -> None:
        """Owe one summary message per summary route for the alerts batched so far."""
        now = self.clock()
        routes = self.routes()
        tallies = _Tallies()
        with self.store.transaction() as state:
            for route, documents in list(state.batches.items()):
                action = routes.get(route)
                if action is not None and documents:
                    self._owe(state, route, action, documents, route, now, tallies)
                elif action is None and self._waits(route):
                    continue  # its rule did not load this time: the batch waits
                elif action is None:
                    tallies.errors.append(
                        f"action {route!r} is no longer configured: a summary of "
                        f"{len(documents)} alert(s) was dropped"
                    )
                del state.batches[route]
        tallies.add_to(self.stats)

    def _owe(
        self,
        state: OutboxState,
        route: str,
        action: ActionConfig,
        documents: Sequence[Mapping[str, Any]],
        throttle_key: str,
        now: datetime,
        tallies: _Tallies,
    ) -> None:
        ids = [str(get_field(d, "eqlwatch.alert_id")) for d in documents]
        did = delivery_id(route, ids)
        if did in state.deliveries:
            return  # a replayed window: already owed, sent or throttled
        delivery = Delivery(did, route, ids, "", "", now, now)
        last = state.throttle.get(throttle_key)
        if action.throttle is not None and last is not None and now - last < action.throttle:
            delivery.status, delivery.finished = "throttled", now
            tallies.throttled += 1
        else:
            try:
                message = render(action, documents, job_id=self.job_id, root=self.root)
                delivery.title, delivery.body = message.title, message.body
                if action.throttle is not None:
                    state.throttle[throttle_key] = now
                tallies.recorded += 1
            except ConfigError as exc:
                delivery.status, delivery.finished, delivery.last_error = "gave_up", now, str(exc)
                tallies.gave_up += 1
                tallies.errors.append(str(exc))
                log.error("notification not rendered", action=route, error=str(exc))
        state.deliveries[did] = delivery

    def deliver(self) -> DeliveryStats:
        """Send what is due, within the budget; failures wait for a later run."""
        by_name = self.routes()
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
        if action is None and self._waits(delivery.action):
            log.warning("notification waits: its rule is not loaded", action=delivery.action)
            return
        if action is None:
            self._give_up(delivery, now, "the action is no longer configured")
            return
        where = {
            "action": delivery.action,
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
            delivery.body = ""  # kept only while owed: the outbox stays small
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
        delivery.body = ""
        self.stats.gave_up += 1
        message = (
            f"action {delivery.action!r}: gave up on delivery {delivery.id} "
            f"after {delivery.attempts} attempt(s): {error}"
        )
        self.stats.errors.append(message)
        log.error(
            "notification given up", action=delivery.action, delivery=delivery.id, error=error
        )
