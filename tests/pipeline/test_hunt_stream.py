"""Filters and samples are fed their events as `hunt` reads them (`Candidates.streams`),
not kept until the end: the same hits, in the same order, whenever the feeds happen."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eqlwatch.engine.query import Executor
from eqlwatch.errors import DataError
from eqlwatch.pipeline import hunt_defer
from eqlwatch.pipeline.hunt import hunt_files
from tests.pipeline.doubles import make_rule
from tests.pipeline.test_hunt_index import conditions, event, hits, query

PIPES = ["", " | head 1", " | head 3", " | tail 2", " | tail 1"]


@st.composite
def any_query(draw: st.DrawFn) -> str:
    """The rule index's random queries, plus filters with pipes and samples."""
    kind = draw(st.sampled_from(["indexed", "piped", "sample"]))
    if kind == "indexed":
        return draw(query())
    if kind == "piped":
        return f"process where {draw(conditions)}{draw(st.sampled_from(PIPES))}"
    stages = draw(st.lists(conditions, min_size=2, max_size=2))
    return "sample by k " + " ".join(f"[any where {c}]" for c in stages)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    queries=st.lists(any_query(), min_size=1, max_size=5),
    lines=st.lists(event(), min_size=1, max_size=30),
    every=st.integers(1, 5),
    screen=st.booleans(),
)
def test_feeding_as_events_come_gives_the_hits_of_one_run_at_the_end(
    queries: list[str],
    lines: list[bytes],
    every: int,
    screen: bool,
    tmp_path: Path,
) -> None:
    rules = [make_rule(q, rule_id=f"r{i}") for i, q in enumerate(queries)]
    path = tmp_path / "events.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(hunt_defer, "FEED_EVERY", 10**9)  # every event held, one run at the end
        at_end = hunt_files(rules, [path], screen=screen)
        patch.setattr(hunt_defer, "FEED_EVERY", every)
        streamed = hunt_files(rules, [path], screen=screen)
    assert hits(streamed) == hits(at_end)
    assert [r.rule_id for r, _ in streamed.failed] == [r.rule_id for r, _ in at_end.failed]


def _broad(n: int) -> list[bytes]:
    """Process starts a broad filter takes as candidates (the screen cannot drop them)."""
    return [
        orjson.dumps(
            {
                "@timestamp": f"2026-01-01T00:{n // 60 % 60:02d}:{n % 60:02d}.000Z",
                "event": {"category": "process", "type": "start"},
                "process": {"pid": i, "name": f"tool{i % 7}.exe", "args": ["a" * 200]},
            }
        )
        for i in range(n)
    ]


def test_a_broad_filter_does_not_keep_its_candidates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """20,000 candidates, 1 hit: memory is the feed batch, not the input."""
    path = tmp_path / "events.ndjson"
    path.write_bytes(b"\n".join(_broad(20_000)) + b"\n")
    rules = [make_rule("process where process.pid == 19999", rule_id="broad")]

    def peak() -> tuple[int, int]:
        tracemalloc.start()
        try:
            result = hunt_files(rules, [path])
            return len(result.hits[0][1]), tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    monkeypatch.setattr(hunt_defer, "FEED_EVERY", 10**9)
    found, held = peak()
    monkeypatch.setattr(hunt_defer, "FEED_EVERY", 1024)
    streamed_found, streamed = peak()
    assert found == streamed_found == 1
    assert streamed * 3 < held, (streamed, held)


def test_a_rule_failing_while_fed_fails_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "events.ndjson"
    path.write_bytes(b"\n".join(_broad(50)) + b"\n")
    rules = [
        make_rule("process where process.pid == 3", rule_id="fails"),
        make_rule("process where process.pid == 40", rule_id="works"),
    ]
    real = Executor.feed
    fed: dict[int, int] = {}  # feeds per executor, in the order rules are fed (first: "fails")

    def feed(self: Executor, events: Any) -> None:
        fed[id(self)] = fed.get(id(self), 0) + 1
        if id(self) == next(iter(fed)) and fed[id(self)] == 2:
            raise DataError("broken on the second feed")
        real(self, events)

    monkeypatch.setattr(hunt_defer, "FEED_EVERY", 10)
    monkeypatch.setattr(Executor, "feed", feed)
    result = hunt_files(rules, [path])
    assert [(r.rule_id, str(e)) for r, e in result.failed] == [
        ("fails", "broken on the second feed")
    ]
    assert [(r.rule_id, len(found)) for r, found in result.hits] == [("works", 1)]
