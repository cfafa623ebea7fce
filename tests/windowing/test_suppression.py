"""Suppression as a property: any cut of time into slices, any crash, the same alerts.

Matches arrive in slices that tile time in order (as the runner's do). Between slices the
process may crash after writing the alert versions but before saving the suppression state,
or after saving the state but before the checkpoint: the slice is then replayed. Whatever
happens, the alerts (ids, terms, start, end, docs_count) equal one pass over everything.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.model import Alert
from eqlwatch.suppression import (
    GroupState,
    Match,
    SuppressionSpec,
    Version,
    prune,
    suppress,
)

from .strategies import EPOCH

HOUR = timedelta(hours=1)


def _match(n: int, second: int, host: str | None) -> Match:
    alert = Alert(id=f"a{n:04d}", rule_id="r", document={"eqlwatch": {}, "host": host})
    return Match(EPOCH + timedelta(seconds=second), alert, (host,))


matches_strategy = st.lists(
    st.tuples(st.integers(0, 6 * 3600), st.sampled_from(["h1", "h2", "h3", None])),
    max_size=80,
).map(lambda rows: [_match(i, s, h) for i, (s, h) in enumerate(rows)])


class Store:
    """A sink that creates a version's full document or sets fields on the one it holds."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}

    def apply(self, plain: list[Alert], versions: list[Version]) -> None:
        for alert in plain:
            self.docs.setdefault(alert.id, dict(alert.document))
        for v in versions:
            if v.alert_id not in self.docs:
                assert v.first is not None, "an update for an alert never created"
                self.docs[v.alert_id] = dict(v.first.document)
            self.docs[v.alert_id]["suppression"] = dict(v.fields)

    def view(self) -> dict[str, Any]:
        return {k: d.get("suppression") for k, d in self.docs.items()}


def _spec(missing: bool) -> SuppressionSpec:
    return SuppressionSpec(("host.name",), HOUR, "doNotSuppress" if missing else "suppress")


def _one_pass(spec: SuppressionSpec, matches: list[Match]) -> Store:
    store = Store()
    out = suppress(spec, "r", matches, {})
    store.apply(out.plain, out.versions)
    return store


@settings(max_examples=150, deadline=None)
@given(
    matches_strategy,
    st.lists(st.integers(1, 4 * 3600), min_size=1, max_size=40),
    st.lists(st.sampled_from(["ok", "crash_before_state", "crash_before_checkpoint"])),
    st.booleans(),
)
def test_any_slicing_and_crash_gives_one_pass(matches, cuts, crashes, missing) -> None:
    spec = _spec(missing)
    store, saved = Store(), dict[str, GroupState]()
    start, crash_iter = EPOCH, iter(crashes)
    while start <= EPOCH + timedelta(hours=7):
        end = start + timedelta(seconds=cuts[0])
        cuts = cuts[1:] or cuts
        batch = [m for m in matches if start <= m.time < end]
        while True:  # a slice is retried until its checkpoint lands
            groups = prune(saved, start, spec.duration)
            out = suppress(spec, "r", batch, groups)
            store.apply(out.plain, out.versions)
            crash = next(crash_iter, "ok")
            if crash == "crash_before_state":
                continue
            saved = out.groups
            if crash == "crash_before_checkpoint":
                continue
            break
        start = end
    assert store.view() == _one_pass(spec, matches).view()


@given(matches_strategy)
def test_counts_add_up(matches) -> None:
    """Every match is either a bucket's first, one of its suppressed docs, or plain."""
    spec = _spec(True)
    out = suppress(spec, "r", matches, {})
    suppressed = sum(v.fields["docs_count"] + 1 for v in out.versions)
    assert suppressed + len(out.plain) == len(matches)
    assert len(out.plain) == sum(1 for m in matches if m.values == (None,))


def test_buckets_follow_event_time() -> None:
    """Inside the duration: one alert; at exactly start + duration: a new one."""
    spec = _spec(False)
    seconds = [0, 600, 3599, 3600, 3700]
    out = suppress(spec, "r", [_match(i, s, "h1") for i, s in enumerate(seconds)], {})
    counts = sorted((v.fields["start"], v.fields["docs_count"]) for v in out.versions)
    assert counts == [("2026-01-01T00:00:00.000Z", 2), ("2026-01-01T01:00:00.000Z", 1)]
    assert {v.fields["end"] for v in out.versions} == {
        "2026-01-01T00:59:59.000Z",
        "2026-01-01T01:01:40.000Z",
    }
    assert all(v.fields["terms"] == [{"field": "host.name", "value": ["h1"]}] for v in out.versions)


def test_missing_field_suppress_vs_do_not_suppress() -> None:
    rows = [_match(0, 0, None), _match(1, 10, None)]
    grouped = suppress(_spec(False), "r", rows, {})
    assert len(grouped.versions) == 1
    assert not grouped.plain
    assert grouped.versions[0].fields["terms"] == [{"field": "host.name", "value": None}]
    alone = suppress(_spec(True), "r", rows, {})
    assert not alone.versions
    assert [a.id for a in alone.plain] == ["a0000", "a0001"]


def test_state_round_trips_through_json() -> None:
    out = suppress(_spec(False), "r", [_match(0, 0, "h1"), _match(1, 5, "h1")], {})
    (state,) = out.groups.values()
    assert GroupState.from_json(state.to_json()) == state
