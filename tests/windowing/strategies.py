"""Hypothesis strategies shared by the windowing tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from eqlwatch.windowing import WindowPolicy

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def seconds(lo: int, hi: int) -> st.SearchStrategy[timedelta]:
    return st.integers(lo, hi).map(lambda s: timedelta(seconds=s))


def instants(span_s: int = 7 * 86400) -> st.SearchStrategy[datetime]:
    return st.integers(0, span_s * 1000).map(lambda ms: EPOCH + timedelta(milliseconds=ms))


@st.composite
def policies(draw: st.DrawFn) -> WindowPolicy:
    overlap = draw(seconds(0, 3600))
    return WindowPolicy(
        overlap=overlap,
        hold_back=draw(st.sampled_from([timedelta(0), overlap])),
        ingest_delay=draw(seconds(0, 600)),
        look_back=draw(seconds(0, 86400)),
        max_chunk=draw(seconds(1, 86400)),
        max_slices=draw(st.integers(1, 50)),
        min_split=draw(st.sampled_from([timedelta(microseconds=1), timedelta(seconds=1)])),
    )
