"""`hitfacts` reads must equal `get_field`/`pick` on every event shape, and the IP walk's
"plain" verdict must only ever be given to events where nested `dict.get` is exact."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.alerts import alert_id, build_alert, serialize_alert
from eqlwatch.enrich import Enricher, load_ip_table
from eqlwatch.grouping import DEFAULT_SPAN, group_of
from eqlwatch.hitfacts import facts_of, parts_of, pick, read
from eqlwatch.model import Hit, HitEvent
from eqlwatch.notes import NoteRenderer
from eqlwatch.notes.check import synthetic_hit, synthetic_rule
from eqlwatch.notes.render import alert_view
from eqlwatch.pipeline.alerting import AlertBuilder
from eqlwatch.rules.fields import get_field
from eqlwatch.rules.fields import pick as fields_pick

ENRICHER = Enricher(load_ip_table())
NAMES = ["a", "b", "c", "ip", "a.b", "b.c", "a.b.c"]  # dotted keys make flat/mixed shapes
PATHS = ["a", "b", "a.b", "a.c", "b.c", "a.b.c", "a.ip", "c.ip.a", "ip"]

leaves = st.one_of(
    st.none(), st.integers(-3, 3), st.sampled_from(["", "x", "10.0.0.1", "::1", "1.2"])
)


def _events(names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    tree = st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(st.sampled_from(names), inner, max_size=4),
        ),
        max_leaves=12,
    )
    return st.dictionaries(st.sampled_from(names), tree, max_size=4)


events = st.one_of(_events(NAMES[:4]), _events(NAMES))  # plain ones, and any shape


@settings(max_examples=500)
@given(st.lists(events, min_size=1, max_size=3))
def test_reads_equal_get_field_on_any_shape(sources: list[dict[str, Any]]) -> None:
    _, plain = ENRICHER.scan(sources)
    facts = facts_of(sources, plain)
    for raw, flag in zip(facts.raws, facts.plain, strict=True):
        if flag:
            assert not any("." in k for k in _all_keys(raw))
        for path in PATHS:
            assert read(raw, flag, path, parts_of(path)) == get_field(raw, path)
            parent, _, _ = path.rpartition(".")
            if parent:
                keys = ("a", "b", "ip")
                expected = fields_pick(raw, parent, keys)
                assert pick(raw, flag, parent, parts_of(parent), keys) == expected
    for path in PATHS:
        values: list[Any] = [get_field(s, path) for s in sources]
        wanted = next((v for v in values if v not in (None, "", [])), None)
        assert facts.first(path) == wanted


def _all_keys(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [*node, *(k for v in node.values() for k in _all_keys(v))]
    if isinstance(node, list):
        return [k for v in node for k in _all_keys(v)]
    return []


def test_dotted_keys_seen_before_still_make_an_event_not_plain() -> None:
    enricher = Enricher(load_ip_table())
    assert enricher.scan([{"process.name": "a"}])[1] == (False,)
    # The dotted key is now a cached field; a later event carrying it is still caught.
    assert enricher.scan([{"process": {"name": "a"}}, {"process.name": "b"}])[1] == (True, False)


def test_plain_flags_must_match_the_events() -> None:
    with pytest.raises(ValueError, match="2 plain flags for 1 events"):
        facts_of([{}], [True, True])


def test_timestamps_follow_the_field_and_skip_absent_ones() -> None:
    sources: list[dict[str, Any]] = [{"t": {"s": "t1"}}, {}, {"t.s": "t3"}]
    facts = facts_of(sources, ENRICHER.scan(sources)[1], timestamp_field="t.s")
    assert facts.times == ("t1", None, "t3")
    assert facts.stamps == ["t1", "t3"]


def _flat(node: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        name = f"{prefix}.{key}" if prefix else key
        out.update(_flat(value, name) if isinstance(value, dict) else {name: value})
    return out


@pytest.mark.parametrize("shape", ["nested", "flat", "mixed"])
def test_alert_builder_fast_paths_equal_the_general_path(repo_root: Path, shape: str) -> None:
    """AlertBuilder (plain flags, shared facts) writes what the unshared path writes."""
    hit = synthetic_hit()
    if shape != "nested":
        events = list(hit.events)
        flat = HitEvent(events[1].index, events[1].id, _flat(dict(events[1].source)))
        events[1] = flat if shape == "mixed" else events[1]
        if shape == "flat":
            events = [HitEvent(e.index, e.id, _flat(dict(e.source))) for e in events]
        hit = Hit(hit.kind, tuple(events), hit.join_keys)
    rule, now = synthetic_rule(), datetime(2025, 6, 1, 10, 5, tzinfo=UTC)
    builder = AlertBuilder(
        job_id="j", templates_dir=repo_root / "templates", ip_table=load_ip_table()
    )
    fast = builder(rule, hit, detected_at=now)
    assert fast is not None
    renderer = NoteRenderer(repo_root / "templates")
    enrichment = Enricher(load_ip_table()).enrich([e.source for e in hit.events])
    ident = alert_id(rule.rule_id, hit.events)
    view = alert_view(
        ident, rule, hit, job_id="j", detected_at=now.isoformat(), timestamp_field="@timestamp"
    )
    note = renderer.render(rule, hit, enrichment, alert=view)
    slow = build_alert(rule, hit, enrichment, note.text, detected_at=now, job_id="j")
    group = group_of(slow.document, DEFAULT_SPAN)  # the builder adds it after building
    assert group is not None
    slow.document["eqlwatch"]["group"] = group
    assert note.error is None
    assert serialize_alert(fast) == serialize_alert(slow)


def _span_by_parsing(stamps: list[Any]) -> tuple[Any, Any] | None:
    """The definition: order by parsed time (ties by position); unparseable keeps order."""
    from eqlwatch.windowing import parse_timestamp

    if not stamps:
        return None
    try:
        keyed = sorted((parse_timestamp(s), n) for n, s in enumerate(stamps))
    except ValueError:
        return stamps[0], stamps[-1]
    return stamps[keyed[0][1]], stamps[keyed[-1][1]]


_stamp = st.builds(
    lambda day, clock, frac, zone: f"{day}T{clock}{frac}{zone}",
    # Few choices each (valid and invalid ones), so equal prefixes meet often.
    st.sampled_from(["2024-02-29", "2025-02-29", "2025-13-01", "0000-01-01", "2025-06-01"]),
    st.sampled_from(["10:00:00", "23:59:59", "24:00:00", "10:00:60"]),
    st.sampled_from(["", ".5", ".500", ".000000", ".123456", ".1234567", ".1234568", ".0000009"]),
    st.sampled_from(["Z", "Z", "Z", "+00:00", "", "+02:00"]),
)


@settings(max_examples=1500)
@given(st.lists(st.one_of(_stamp, st.integers(0, 10**13), st.just("garbage")), max_size=4))
def test_time_span_fast_path_equals_ordering_by_parsed_time(stamps: list[Any]) -> None:
    from eqlwatch.hitfacts import time_span

    assert time_span(stamps) == _span_by_parsing(stamps)


_fraction = st.sampled_from(["", ".5", ".123456", ".1234567", ".1234568", ".0000009", ".000000"])


@settings(max_examples=500)
@given(
    st.sampled_from(["2024-02-29T23:59:59", "2025-02-29T10:00:00", "2025-06-01T24:00:00"]),
    st.lists(_fraction, min_size=1, max_size=4),
)
def test_time_span_on_stamps_of_one_second(second: str, fractions: list[str]) -> None:
    """Same second, different fractions: digits past microseconds tie when parsed."""
    from eqlwatch.hitfacts import time_span

    stamps = [f"{second}{fraction}Z" for fraction in fractions]
    assert time_span(stamps) == _span_by_parsing(stamps)
