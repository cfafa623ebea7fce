"""`hitfacts` reads must equal `get_field`/`pick` on every event shape, and the IP walk's
"plain" verdict must only ever be given to events where nested `dict.get` is exact."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.enrich import Enricher, load_ip_table
from eqlwatch.hitfacts import facts_of, parts_of, pick, read
from eqlwatch.rules.fields import get_field
from eqlwatch.rules.fields import pick as fields_pick

ENRICHER = Enricher(load_ip_table())
NAMES = ["a", "b", "c", "ip", "a.b", "b.c", "a.b.c"]  # dotted keys make flat/mixed shapes
PATHS = ["a", "b", "a.b", "a.c", "b.c", "a.b.c", "a.ip", "c.ip.a", "ip"]

leaves = st.one_of(
    st.none(), st.integers(-3, 3), st.sampled_from(["", "x", "10.0.0.1", "::1", "1.2"])
)
events = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(NAMES), inner, max_size=4)
    ),
    max_leaves=12,
).filter(lambda v: isinstance(v, dict))


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
