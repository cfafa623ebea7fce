"""`identity.shown` writes an event as `named` then `HitEvent.to_es` would: events read whole
with their id, events named later (`LATER`), events known by their line, missing ones."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.engine.identity import LATER, named, record_id, shown
from eqlwatch.model import Hit, HitEvent

SOURCES = st.dictionaries(
    st.sampled_from(["a", "b", "process", "@timestamp"]),
    st.one_of(st.integers(-(2**63), 2**63 - 1), st.text(max_size=5), st.none(), st.floats()),
    max_size=4,
)


@st.composite
def event(draw: st.DrawFn) -> HitEvent:
    source = draw(SOURCES)
    how = draw(st.sampled_from(["id", "later", "line", "missing"]))
    if how == "missing":
        return HitEvent("i", "", {}, missing=True)
    if how == "line":
        partial = {k: v for k, v in source.items() if k == "a"}  # the fields read
        line: object = orjson.dumps(source) + b"\n"
        return HitEvent("i", line, partial)  # type: ignore[arg-type]  # as query reads it
    return HitEvent("i", LATER if how == "later" else "given", source)


@settings(max_examples=200, deadline=None)
@given(events=st.lists(event(), min_size=1, max_size=4))
def test_shown_is_named_then_to_es(events: list[HitEvent]) -> None:
    (hit,) = named([Hit("sequence", tuple(events))])
    assert [shown(e) for e in events] == [e.to_es() for e in hit.events]
    for e, done in zip(events, hit.events, strict=True):
        assert orjson.dumps(shown(e)) == orjson.dumps(done.to_es())  # key order too
        ident: object = e.id
        if ident is LATER or type(ident) is bytes:
            assert done.id == record_id(done.source)
