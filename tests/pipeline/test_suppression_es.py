"""Suppression on the Elasticsearch backend (the stand-in, real HTTP on loopback): windowed
runs with crashes after each step and rollovers of the alerts data stream give the same
suppressed alerts as one pass of the local backend; each alert id lives in one backing
index only (updates go to the backing index holding it, with if_seq_no/if_primary_term)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eqlwatch.backends.local_source import LocalEventSource
from eqlwatch.backends.local_state import LocalStateStore
from tests.backends.es_cluster import Cluster, fast_client
from tests.fakes.es_server import FakeElasticsearch
from tests.pipeline.doubles import policy_for_query
from tests.pipeline.test_no_gap_no_duplicate import QUERIES, SPAN, T0, events_strategy
from tests.pipeline.test_suppression import (
    Crashes,
    _catch_up,
    _runner,
    _view,
    suppressing_rule,
)


@pytest.fixture(scope="module")
def stand_in() -> Iterator[FakeElasticsearch]:
    fake = FakeElasticsearch().start()
    try:
        yield fake
    finally:
        fake.stop()


def _es_view(cluster: Cluster) -> dict[str, Any]:
    cluster.client.indices.refresh(index=cluster.alerts)
    hits = cluster.client.search(index=cluster.alerts, size=10_000).body["hits"]["hits"]
    ids = [h["_id"] for h in hits]
    assert len(ids) == len(set(ids)), "an alert id lives in two backing indices"
    return {
        h["_id"]: (
            (h["_source"].get("kibana") or {}).get("alert", {}).get("suppression"),
            h["_source"].get("refs"),
        )
        for h in hits
    }


@pytest.mark.slow
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    events=events_strategy,
    kind=st.sampled_from(["event", "sequence"]),
    duration=st.sampled_from(["5m", "30m", "2h"]),
    missing=st.sampled_from(["suppress", "doNotSuppress"]),
    run_offsets=st.lists(
        st.integers(1, int((SPAN + timedelta(hours=1)).total_seconds())), min_size=1, max_size=6
    ),
    chunk_minutes=st.integers(3, 90),
    crashes=st.sets(st.integers(1, 40), max_size=5),
    rollovers=st.sets(st.integers(0, 6), max_size=3),
)
def test_es_windowed_runs_with_crashes_equal_local_one_pass(
    stand_in, tmp_path_factory, events, kind, duration, missing, run_offsets, chunk_minutes,
    crashes, rollovers,
) -> None:  # fmt: skip
    query = QUERIES[kind]
    rule = suppressing_rule(query, ("process.entity_id", "user.name"), duration, missing)
    source = LocalEventSource.from_events(events)
    look_back = SPAN + timedelta(hours=1)

    first_run = T0 + timedelta(seconds=min(run_offsets))
    one = tmp_path_factory.mktemp("one")
    LocalStateStore(one / "state.json").set_checkpoint("j/r1", first_run - look_back)
    whole = policy_for_query(query, max_chunk=look_back * 4, max_slices=1, look_back=look_back)
    _catch_up(_runner(one, source, Crashes(set())), rule, whole, one)

    cluster = Cluster("fake", fast_client(stand_in.url), stand_in, "t" + uuid.uuid4().hex[:12])
    cluster.setup()
    policy = policy_for_query(
        query, max_chunk=timedelta(minutes=chunk_minutes), max_slices=3, look_back=look_back
    )
    crash = Crashes(crashes)
    folder = tmp_path_factory.mktemp("es")
    for i, offset in enumerate(sorted(run_offsets)):
        if i in rollovers:
            cluster.client.indices.rollover(alias=cluster.alerts)
        runner = _runner(folder, source, crash, cluster.sink(), cluster.state_store())
        runner.run(rule, policy, now=T0 + timedelta(seconds=offset), run_id=str(i))
    runner = _runner(folder, source, crash, cluster.sink(), cluster.state_store())
    _catch_up(runner, rule, policy, folder, cluster.state_store())

    assert _es_view(cluster) == _view(one / "alerts.ndjson")


def test_setup_on_an_existing_state_index_adds_the_suppression_field(stand_in) -> None:
    """An index made by an older eqlwatch (no `groups`) gets the field at the next setup."""
    from eqlwatch.backends.elasticsearch.state import STATE_MAPPINGS, STATE_SETTINGS

    cluster = Cluster("fake", fast_client(stand_in.url), stand_in, "t" + uuid.uuid4().hex[:12])
    old = {k: v for k, v in STATE_MAPPINGS["properties"].items() if k != "groups"}
    cluster.client.indices.create(
        index=cluster.state,
        mappings={"dynamic": "strict", "properties": old},
        settings=dict(STATE_SETTINGS),
    )
    cluster.setup()
    mappings = stand_in.store.indices[cluster.state].mappings
    assert mappings["properties"]["groups"] == {"type": "object", "enabled": False}
