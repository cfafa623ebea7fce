"""The runner's side of suppression: one rule's matches, slice by slice, into buckets.

Per slice, in this order: plain alerts are written, then each touched bucket's version
(absolute values from the saved state and this slice), then the state; the runner moves the
checkpoint last. A crash between any two steps replays the slice with the same result
(`eqlwatch.suppression`). A backfill keeps its state in memory only: it never moves the
scheduled runs' buckets. `hunt` folds all of a rule's alerts at once (`suppress_at_once`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from eqlwatch.backends.base import AlertSink, StateStore, SuppressingSink, SuppressionStore
from eqlwatch.errors import ConfigError, DataError
from eqlwatch.model import Alert, Hit, WriteResult
from eqlwatch.rules import Rule
from eqlwatch.suppression import GroupState, Match, SuppressionSpec, group_values, prune, suppress
from eqlwatch.windowing import Selection, selection_time

T = TypeVar("T")
Retry = Callable[[Callable[[], T]], T]


def spec_of(rule: Rule) -> SuppressionSpec | None:
    setting = rule.eqlwatch.suppression
    if setting is None:
        return None
    return SuppressionSpec(setting.group_by, setting.duration, setting.missing_fields)


@dataclass
class RuleSuppression:
    """One rule run's suppression: the sink and store it needs, and the groups as saved."""

    spec: SuppressionSpec
    rule_id: str
    key: str
    sink: SuppressingSink
    store: SuppressionStore | None  # None: a backfill, state kept here only
    groups: dict[str, GroupState] = field(default_factory=dict)
    loaded: bool = False

    @staticmethod
    def for_rule(
        rule: Rule, key: str, sink: AlertSink, state: StateStore, *, backfill: bool
    ) -> RuleSuppression | None:
        spec = spec_of(rule)
        if spec is None:
            return None
        if not isinstance(sink, SuppressingSink) or not isinstance(state, SuppressionStore):
            raise ConfigError(
                f"rule {rule.rule_id}: this backend cannot suppress alerts "
                f"({type(sink).__name__}, {type(state).__name__})"
            )
        return RuleSuppression(spec, rule.rule_id, key, sink, None if backfill else state)

    def slice(
        self,
        since: datetime,
        matches: Sequence[tuple[datetime, Hit, Alert]],
        plain_sink: AlertSink,
        retry: Callable[[Callable[[], object], str], object],
    ) -> tuple[WriteResult, list[Alert], int]:
        """Writes one slice's alerts: (write result, alerts to notify, replayed matches)."""
        if not self.loaded and self.store is not None:
            store = self.store
            loaded = retry(functools.partial(store.get_suppression, self.key), "read suppression")
            assert isinstance(loaded, dict)
            self.groups = loaded
        self.loaded = True
        groups = prune(self.groups, since, self.spec.duration)
        out = suppress(
            self.spec,
            self.rule_id,
            (Match(t, alert, group_values(hit, self.spec.group_by)) for t, hit, alert in matches),
            groups,
        )
        created = existing = 0
        if out.plain:
            result = retry(functools.partial(plain_sink.write, out.plain), "write alerts")
            assert isinstance(result, WriteResult)
            created, existing = result.created, result.existing
        if out.versions:
            result = retry(functools.partial(self.sink.suppress, out.versions), "write alerts")
            assert isinstance(result, WriteResult)
            created, existing = created + result.created, existing + result.existing
        if self.store is not None and out.groups != self.groups:
            store = self.store
            retry(
                functools.partial(store.set_suppression, self.key, out.groups), "save suppression"
            )
        self.groups = out.groups
        return WriteResult(created, existing), [*out.plain, *out.opened], out.replayed


def suppress_at_once(
    rule: Rule, pairs: Sequence[tuple[Hit, Alert]], selection: Selection
) -> list[Alert]:
    """One pass over all of a rule's alerts (`hunt`): the same buckets a scheduled run
    builds, on the same clock (the rule's selection time), with no saved state.

    Returns the alerts as they stand: each bucket's alert with its final
    `kibana.alert.suppression`, and the alerts not suppressed (a missing field with
    `doNotSuppress`, or a hit without a time to bucket it by), in time order.
    """
    spec = spec_of(rule)
    if spec is None:
        return [alert for _, alert in pairs]
    matches: list[Match] = []
    untimed: list[Alert] = []
    for hit, alert in pairs:
        try:
            when = selection_time(hit, selection)
        except DataError:
            when = None
        if when is None:
            untimed.append(alert)
        else:
            matches.append(Match(when, alert, group_values(hit, spec.group_by)))
    out = suppress(spec, rule.rule_id, matches, {})
    at = {m.alert.id: m.time for m in matches}
    kept = [(at[a.id], a) for a in out.plain]
    for version in out.versions:
        assert version.first is not None  # no saved state: every bucket opened here
        first_id = version.first.document["eqlwatch"]["first_match_id"]
        kept.append((at[first_id], version.first))
    kept.sort(key=lambda pair: (pair[0], pair[1].id))
    return [*untimed, *(alert for _, alert in kept)]
