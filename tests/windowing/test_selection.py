"""Selection time (Kibana's timestamp override): the pure rules, and Elasticsearch's filter
built from them agreeing with them on every event (through the stand-in's Query DSL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.backends.elasticsearch.search import window_filter
from eqlwatch.errors import DataError
from eqlwatch.model import Hit, HitEvent, TimeWindow
from eqlwatch.windowing import Selection, WindowPolicy, policy_for, selection_time
from tests.fakes.es_eql import matches_filter

from .strategies import EPOCH

OVERRIDE = Selection("@timestamp", "event.ingested")
STRICT = Selection("@timestamp", "event.ingested", fallback=False)


def _at(minutes: int) -> str:
    return (EPOCH + timedelta(minutes=minutes)).isoformat()


def test_override_first_then_event_time_unless_fallback_disabled() -> None:
    both = {"@timestamp": _at(0), "event": {"ingested": _at(70)}}
    bare = {"@timestamp": _at(0)}
    assert OVERRIDE.time_of(both) == EPOCH + timedelta(minutes=70)
    assert OVERRIDE.time_of(bare) == EPOCH
    assert STRICT.time_of(bare) is None  # never selected
    assert Selection().time_of(both) == EPOCH  # no override: event time


def test_unreadable_override_names_the_field() -> None:
    with pytest.raises(DataError, match=r"event\.ingested"):
        OVERRIDE.time_of({"@timestamp": _at(0), "event": {"ingested": "yesterday"}})
    with pytest.raises(DataError, match="no timestamp"):
        OVERRIDE.time_of({"event": {"action": "x"}})


def test_a_hit_is_owned_by_its_latest_selection_time() -> None:
    first = HitEvent("i", "a", {"@timestamp": _at(0), "event": {"ingested": _at(50)}})
    second = HitEvent("i", "b", {"@timestamp": _at(5), "event": {"ingested": _at(6)}})
    gap = HitEvent("", "", {}, missing=True)
    assert selection_time(Hit("sequence", (first, second, gap)), OVERRIDE) == EPOCH + timedelta(
        minutes=50
    )
    bare = HitEvent("i", "c", {"@timestamp": _at(9)})
    assert selection_time(Hit("sequence", (second, bare)), STRICT) is None


def test_arrival_clock_never_selects_before_arrival() -> None:
    """The local source's arrival: an event's own event.ingested wins only when later."""
    arrived = EPOCH + timedelta(minutes=60)
    own_later = HitEvent(
        "i", "a", {"@timestamp": _at(0), "event.ingested": _at(63)}, arrived=arrived
    )
    own_older = HitEvent(
        "i", "b", {"@timestamp": _at(0), "event.ingested": _at(1)}, arrived=arrived
    )
    bare = HitEvent("i", "c", {"@timestamp": _at(0)}, arrived=arrived)
    assert selection_time(Hit("event", (own_later,)), OVERRIDE) == EPOCH + timedelta(minutes=63)
    assert selection_time(Hit("event", (own_older,)), OVERRIDE) == arrived  # copied in late
    assert selection_time(Hit("event", (bare,)), OVERRIDE) == arrived
    assert selection_time(Hit("event", (bare,)), STRICT) is None
    assert selection_time(Hit("event", (own_older,)), Selection()) == arrived


def _policy(maxspan: timedelta | None, kind: str, tolerance: timedelta) -> WindowPolicy:
    return policy_for(
        maxspan=maxspan, kind=kind, late_tolerance=tolerance, has_until=False,
        has_trailing_missing=False, ingest_delay=timedelta(0), look_back=timedelta(hours=1),
        max_chunk=timedelta(hours=1), max_slices=1, min_split=timedelta(seconds=1),
        max_sequence_span=timedelta(hours=2),
    )  # fmt: skip


def test_late_tolerance_widens_sequences_only() -> None:
    hour = timedelta(hours=1)
    seq = _policy(timedelta(minutes=5), "sequence", hour)
    assert (seq.overlap, seq.hold_back) == (hour, timedelta(0))
    assert _policy(None, "sample", hour).overlap == timedelta(hours=2)  # max_sequence_span
    assert _policy(None, "event", hour).overlap == timedelta(0)
    with pytest.raises(ValueError, match="late_tolerance"):
        _policy(None, "event", -hour)


def test_filter_has_kibanas_shape() -> None:
    window = TimeWindow(EPOCH, EPOCH + timedelta(minutes=5))
    flt = window_filter("@timestamp", window, None, selection_field="event.ingested")
    assert flt is not None
    (clause,) = flt["bool"]["filter"]
    should = clause["bool"]["should"]
    assert clause["bool"]["minimum_should_match"] == 1
    assert should[0] == {
        "range": {
            "event.ingested": {
                "gte": "2026-01-01T00:00:00.000Z",
                "lt": "2026-01-01T00:05:00.000Z",
                "format": "strict_date_optional_time",
            }
        }
    }
    assert should[1]["bool"]["must_not"] == [{"exists": {"field": "event.ingested"}}]
    assert "range" in should[1]["bool"]["filter"][0]
    strict = window_filter(
        "@timestamp", window, None, selection_field="event.ingested", selection_fallback=False
    )
    assert strict is not None
    assert len(strict["bool"]["filter"][0]["bool"]["should"]) == 1


minutes = st.integers(0, 240)
events = st.fixed_dictionaries(
    {"@timestamp": minutes.map(_at)},
    optional={"event": st.fixed_dictionaries({"ingested": minutes.map(_at)})},
)


@settings(max_examples=300, deadline=None)
@given(events, minutes, st.integers(1, 120), st.booleans())
def test_es_filter_selects_exactly_what_selection_time_selects(
    event: dict[str, object], start: int, length: int, fallback: bool
) -> None:
    """The filter sent to Elasticsearch and the pure rule used for attribution agree."""
    window = TimeWindow(EPOCH + timedelta(minutes=start), EPOCH + timedelta(minutes=start + length))
    selection = Selection("@timestamp", "event.ingested", fallback)
    flt = window_filter(
        "@timestamp", window, None, selection_field="event.ingested", selection_fallback=fallback
    )
    when = selection.time_of(event)
    expected = when is not None and window.start <= when < window.end
    assert matches_filter(event, flt) is expected
