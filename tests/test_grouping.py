"""Grouping across rules: `eqlwatch.group` is a pure function of the alert (host and a
fixed time grid, else the process entity), so windowed runs with restarts give every alert
the group one pass gives it, and one host's alerts of one cell share it across rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eqlwatch.backends.local_sink import LocalFileSink, current_documents
from eqlwatch.backends.local_source import LocalEventSource
from eqlwatch.backends.local_state import LocalStateStore
from eqlwatch.engine import SourceEvent, compile_query
from eqlwatch.enrich import load_ip_table
from eqlwatch.grouping import group_of, incidents
from eqlwatch.pipeline.alerting import AlertBuilder
from eqlwatch.pipeline.runner import RuleRunner, RunnerSettings
from tests.pipeline.doubles import make_rule, policy_for_query

T0 = datetime(2026, 11, 21, 11, 50, tzinfo=UTC)  # the data straddles 12:00, a cell boundary
SPAN = timedelta(hours=2)
CELL = timedelta(minutes=30)
QUERIES = {
    "r-start": 'process where process.name == "regsvr32.exe"',
    "r-seq": (
        "sequence by process.entity_id with maxspan=5m "
        '[process where process.name == "regsvr32.exe"] [network where destination.port == 443]'
    ),
}


def _doc(host: str | None = None, start: Any = None, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"event": {} if start is None else {"start": start}, **extra}
    if host is not None:
        doc["host"] = {"name": host}
    return doc


def test_host_and_grid_cell_make_the_group() -> None:
    a = group_of(_doc("ws-1", "2026-11-21T11:59:59.999Z"))
    b = group_of(_doc("ws-1", "2026-11-21T11:30:00Z"))
    c = group_of(_doc("ws-1", "2026-11-21T12:00:00Z"))  # the next cell
    d = group_of(_doc("ws-2", "2026-11-21T11:45:00Z"))
    assert a is not None
    assert b is not None
    assert c is not None
    assert d is not None
    assert a["id"] == b["id"]
    assert a["id"] != c["id"]
    assert a["id"] != d["id"]
    assert (a["by"], a["value"], a["start"], a["end"]) == (
        "host.name", "ws-1", "2026-11-21T11:30:00Z", "2026-11-21T12:00:00Z"
    )  # fmt: skip
    # Epoch milliseconds are the same instant; host.id wins over host.name.
    millis = int(datetime(2026, 11, 21, 11, 40, tzinfo=UTC).timestamp() * 1000)
    assert group_of(_doc("ws-1", millis)) == a
    with_id = group_of({**_doc("ws-1", "2026-11-21T11:40:00Z"), "host": {"id": "H1", "name": "x"}})
    assert with_id is not None
    assert (with_id["by"], with_id["value"]) == ("host.id", "H1")
    # A one-hour grid puts 11:59 and 12:00 apart too, but 11:00 with 11:59.
    hour = timedelta(hours=1)
    first = group_of(_doc("ws-1", "2026-11-21T11:00:00Z"), hour)
    last = group_of(_doc("ws-1", "2026-11-21T11:59:00Z"), hour)
    assert first is not None
    assert last is not None
    assert first["id"] == last["id"]
    assert first["id"] != a["id"]  # the span is part of the id


def test_without_a_host_the_process_entity_groups_and_without_either_nothing_does() -> None:
    one = group_of(_doc(None, "2026-11-21T11:00:00Z", process={"entity_id": ["p-1"]}))
    two = group_of(_doc(None, "2026-11-22T18:00:00Z", process={"entity_id": "p-1"}))
    assert one is not None
    assert one == two
    assert one["by"] == "process.entity_id"
    assert group_of(_doc(None, "2026-11-21T11:00:00Z")) is None
    assert group_of(_doc("", "2026-11-21T11:00:00Z")) is None
    with pytest.raises(ValueError, match="positive"):
        group_of(_doc("ws-1", "2026-11-21T11:00:00Z"), timedelta(0))


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 6 * 3600 * 1000)),
        min_size=1,
        max_size=30,
    ),
    st.integers(1, 120),
)
def test_same_group_exactly_when_same_host_and_same_cell(
    rows: list[tuple[str, int]], minutes: int
) -> None:
    span = timedelta(minutes=minutes)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    base = datetime(2026, 11, 21, tzinfo=UTC)
    docs = [_doc(h, (base + timedelta(milliseconds=ms)).isoformat()) for h, ms in rows]
    groups = [group_of(d, span) for d in docs]
    cells = [(h, (base + timedelta(milliseconds=ms) - epoch) // span) for h, ms in rows]
    for i in range(len(rows)):
        for j in range(len(rows)):
            assert (groups[i] == groups[j]) == (cells[i] == cells[j])
    # Summaries gather them the same way.
    tagged = [{**d, "eqlwatch": {"group": g}} for d, g in zip(docs, groups, strict=True)]
    assert len(incidents(tagged)) == len(set(cells))


def test_incidents_keep_ungrouped_alerts_apart_and_list_rules_once() -> None:
    g = {"id": "g1", "by": "host.name", "value": "ws-1"}
    docs: list[dict[str, Any]] = [
        {"rule": {"name": "A"}, "eqlwatch": {"alert_id": "1", "group": g}},
        {"rule": {"name": "B"}, "eqlwatch": {"alert_id": "2"}},
        {"rule": {"name": "A"}, "eqlwatch": {"alert_id": "3", "group": g}},
        {"rule": {"name": "C"}, "eqlwatch": {"alert_id": "4", "group": g}},
        {"rule": {"name": "B"}, "eqlwatch": {"alert_id": "5"}},
    ]
    out = incidents(docs)
    seen = [(i["id"], i["rules"], [a["eqlwatch"]["alert_id"] for a in i["alerts"]]) for i in out]
    assert seen == [
        ("g1", ["A", "C"], ["1", "3", "4"]),
        (None, ["B"], ["2"]),
        (None, ["B"], ["5"]),
    ]  # fmt: skip


def _event(n: int, offset_s: int, kind: str, host: int) -> SourceEvent:
    ts = (T0 + timedelta(seconds=offset_s)).isoformat().replace("+00:00", "Z")
    source: dict[str, Any] = {
        "@timestamp": ts,
        "host": {"name": f"ws-{host}"},
        "process": {"name": "regsvr32.exe", "entity_id": f"p{host}-{offset_s // 600}"},
    }
    if kind == "start":
        source["event"] = {"category": "process"}
    else:
        source["event"] = {"category": "network"}
        source["destination"] = {"port": 443}
    return SourceEvent("logs-test", str(n), source)


events_strategy = st.lists(
    st.tuples(
        st.integers(0, int(SPAN.total_seconds()) - 1),
        st.sampled_from(["start", "net"]),
        st.integers(0, 2),
    ),
    max_size=40,
).map(lambda rows: [_event(i, *row) for i, row in enumerate(rows)])


def _builder() -> AlertBuilder:
    return AlertBuilder(
        job_id="j", templates_dir=None, ip_table=load_ip_table(None), group_span=CELL
    )


@pytest.mark.slow
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    events=events_strategy,
    run_offsets=st.lists(st.integers(1, int(SPAN.total_seconds()) + 3600), min_size=1, max_size=6),
    chunk_minutes=st.integers(3, 90),
    restarts=st.sets(st.integers(0, 6)),
)
def test_windowed_runs_give_every_alert_the_group_of_one_pass(
    tmp_path_factory: pytest.TempPathFactory,
    events: list[SourceEvent],
    run_offsets: list[int],
    chunk_minutes: int,
    restarts: set[int],
) -> None:
    folder: Path = tmp_path_factory.mktemp("grouping")
    source = LocalEventSource.from_events(events)
    rules = {rid: make_rule(q, rule_id=rid) for rid, q in QUERIES.items()}
    one_pass: dict[str, Any] = {}
    builder = _builder()
    for rule in rules.values():
        for hit in compile_query(rule.query).run(source.events):
            alert = builder(rule, hit, detected_at=T0)
            assert alert is not None
            one_pass[alert.id] = alert.document["eqlwatch"].get("group")

    def runner() -> RuleRunner:
        return RuleRunner(
            RunnerSettings(job_id="j", size=10_000, backoff_s=0),
            source,
            LocalFileSink(folder / "alerts.ndjson"),
            LocalStateStore(folder / "state.json"),
            _builder(),  # a restarted process builds its own
            "me",
            sleep=lambda _s: None,
        )

    policies = {
        rid: policy_for_query(
            q, max_chunk=timedelta(minutes=chunk_minutes), max_slices=3,
            look_back=SPAN + timedelta(hours=1),
        )
        for rid, q in QUERIES.items()
    }  # fmt: skip
    current = runner()
    times = sorted(T0 + timedelta(seconds=s) for s in run_offsets)
    for i, now in enumerate(times):
        if i in restarts:
            current = runner()
        for rid, rule in rules.items():
            current.run(rule, policies[rid], now=now, run_id=str(i))
    final = T0 + SPAN + timedelta(hours=2)
    state = LocalStateStore(folder / "state.json")
    for rid, rule in rules.items():
        for i in range(1000):
            checkpoint = state.get_checkpoint(f"j/{rid}")
            if checkpoint is not None and checkpoint >= final - timedelta(minutes=10):
                break
            current.run(rule, policies[rid], now=final, run_id=f"catch-up-{i}")
        else:
            raise AssertionError("never caught up")
    path = folder / "alerts.ndjson"
    docs = current_documents(path.read_bytes().splitlines() if path.exists() else [])
    windowed = {ident: doc["eqlwatch"].get("group") for ident, doc in docs.items()}
    assert windowed == one_pass
    # Across rules: one host's alerts of one cell share one group, whatever rule.
    by_cell: dict[tuple[str, str], set[str]] = {}
    for doc in docs.values():
        group = doc["eqlwatch"]["group"]
        by_cell.setdefault((group["value"], group["start"]), set()).add(group["id"])
    assert all(len(ids) == 1 for ids in by_cell.values())
    assert len({g["id"] for g in windowed.values()}) == len(by_cell)
    assert orjson.dumps(sorted(one_pass)) == orjson.dumps(sorted(windowed))
