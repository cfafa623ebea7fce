"""The local event source through the real CLI: identity, timestamps, health, streaming."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from eqlwatch.cli.app import app
from eqlwatch.demo import write_demo_data
from eqlwatch.engine.identity import record_id
from eqlwatch.engine.reader import read_event_file

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
PROCESS = "logs-endpoint.events.process-default.ndjson"


def _job(project: Path, paths: list[str]) -> None:
    """The default job over `paths`, without demo generation."""
    text = (project / "jobs" / "default.toml").read_text()
    text = text.replace('paths = ["data/demo/*.ndjson"]', f"paths = {orjson.dumps(paths).decode()}")
    text = text.replace("generate_demo = true", "generate_demo = false")
    (project / "jobs" / "default.toml").write_text(text)


@pytest.fixture
def project(tmp_path: Path, repo_root: Path) -> Path:
    """The project's rules, templates and default job; demo data in data/demo ending NOW."""
    for name in ("queries", "templates", "jobs"):
        shutil.copytree(repo_root / name, tmp_path / name)
    write_demo_data(tmp_path / "data" / "demo", end=NOW - timedelta(minutes=1))
    return tmp_path


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*args], catch_exceptions=False, env={"COLUMNS": "250"})
    return result.exit_code, result.output


def _alerts(project: Path) -> list[dict[str, Any]]:
    path = project / "out" / "alerts.ndjson"
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


def test_same_named_files_in_two_folders_are_different_events(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Per-host folders hold files of the same name at the same line numbers: their events
    must not collide (today's main: `hits 2, new alerts 1, known 1`)."""
    monkeypatch.chdir(project)
    for path in project.glob("queries/*.toml"):  # event rules only: no joins across copies
        if any(word in path.read_text() for word in ("sequence", "sample by")):
            path.unlink()
    demo = project / "data" / "demo"
    (project / "data" / "h2").mkdir()
    for file in demo.glob("*.ndjson"):  # the same events, one more label: other records
        text = file.read_text().replace('"synthetic":"true"', '"synthetic":"true","copy":"h2"')
        (project / "data" / "h2" / file.name).write_text(text)
    _job(project, ["data/demo/*.ndjson"])
    code, out = _run("run", "--once", "--now", NOW.isoformat())
    assert code == 0, out
    single = len(_alerts(project))
    assert single > 0
    shutil.rmtree(project / "out")
    shutil.rmtree(project / "state")
    demo.rename(project / "data" / "h1")
    _job(project, ["data/h1/*.ndjson", "data/h2/*.ndjson"])
    code, out = _run("run", "--once", "--now", NOW.isoformat())
    assert code == 0, out
    alerts = _alerts(project)
    assert len(alerts) == 2 * single
    assert f"{2 * single} new alert(s)" in out


def test_a_rotated_file_keeps_its_events_ids(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rotation moves lines to another file at other positions: no alert is written twice."""
    monkeypatch.chdir(project)
    _job(project, ["data/demo/*.ndjson*"])
    code, out = _run("run", "--once", "--now", NOW.isoformat())
    assert code == 0, out
    first = len(_alerts(project))
    assert first > 0
    demo = project / "data" / "demo"
    for file in list(demo.glob("*.ndjson")):
        lines = file.read_bytes().splitlines(keepends=True)
        half = len(lines) // 2
        (demo / (file.name + ".1")).write_bytes(b"".join(lines[:half]))
        file.write_bytes(b"".join(lines[half:]))
    code, out = _run(
        "backfill", "--from", (NOW - timedelta(hours=2)).isoformat(), "--to", NOW.isoformat()
    )
    assert code == 0, out
    assert "0 new alert(s)" in out
    assert len(_alerts(project)) == first


_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
_records = st.dictionaries(st.text(max_size=6), _values, min_size=1, max_size=5).filter(
    lambda d: not ({"_id", "id", "_source"} & d.keys())
)


@settings(max_examples=60, deadline=None)
@given(
    record=_records,
    others=st.lists(_records, max_size=4),
    position=st.integers(0, 4),
    folder=st.sampled_from(["a", "b/c", "h2"]),
    gz=st.booleans(),
)
def test_ids_come_from_content_not_place(
    tmp_path_factory: pytest.TempPathFactory,
    record: dict[str, Any],
    others: list[dict[str, Any]],
    position: int,
    folder: str,
    gz: bool,
) -> None:
    """The same record gets the same id in any folder, at any line, gzipped or not, as an
    NDJSON line or a JSON-array element; different records never share one."""
    import gzip

    base = tmp_path_factory.mktemp("ids")
    docs = [*others]
    docs.insert(min(position, len(docs)), record)
    ndjson = base / folder / "x.ndjson"
    ndjson.parent.mkdir(parents=True, exist_ok=True)
    body = b"".join(orjson.dumps(d) + b"\n" for d in docs)
    ndjson.write_bytes(gzip.compress(body) if gz else body)
    array = base / "x.json"
    array.write_bytes(orjson.dumps(list(reversed(docs))))
    for path in (ndjson, array):
        events, _ = read_event_file(path)
        ids = {orjson.dumps(dict(e.source), option=orjson.OPT_SORT_KEYS): e.id for e in events}
        assert ids[orjson.dumps(record, option=orjson.OPT_SORT_KEYS)] == record_id(record)
        # distinct records, distinct ids
        assert len(set(ids.values())) == len(ids)


def _demo_file(project: Path) -> Path:
    return project / "data" / "demo" / PROCESS


def test_a_huge_number_as_timestamp_costs_its_event_not_the_rules(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`"@timestamp": 1e300` raised OverflowError in every rule (rc=1, no file named)."""
    monkeypatch.chdir(project)
    _job(project, ["data/demo/*.ndjson"])
    path = _demo_file(project)
    lines = path.read_bytes().splitlines()
    odd = [b'{"@timestamp": 1e300, "event": {"category": ["process"]}}', b'{"@timestamp": "x"}']
    path.write_bytes(b"\n".join([lines[0], *odd, *lines[1:]]) + b"\n")
    code, out = _run("run", "--once", "--now", NOW.isoformat())
    assert code == 0, out
    assert "OverflowError" not in out
    assert len(_alerts(project)) >= 10
    flat = out.replace("\n", "")
    assert "events without a usable timestamp skipped" in flat
    assert f"{path}:2: timestamp out of range" in flat
    assert f"{path}:3: not a timestamp" in flat


def test_a_torn_first_line_costs_that_line_only(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A torn first line made format detection skip the whole file."""
    monkeypatch.chdir(project)
    _job(project, ["data/demo/*.ndjson"])
    code, out = _run("run", "--once", "--now", NOW.isoformat())
    assert code == 0, out
    clean = {a["eqlwatch"]["alert_id"] for a in _alerts(project)}
    shutil.rmtree(project / "out")
    shutil.rmtree(project / "state")
    for path in (project / "data" / "demo").glob("*.ndjson"):
        first = path.read_bytes().splitlines(keepends=True)[0]
        path.write_bytes(first[: len(first) // 2] + b"\n" + path.read_bytes())
    code, out = _run("run", "--once", "--now", NOW.isoformat())
    assert code == 0, out
    assert {a["eqlwatch"]["alert_id"] for a in _alerts(project)} == clean
    flat = out.replace("\n", "")
    assert f"{_demo_file(project)}:1" in flat
    assert f"{_demo_file(project)}:2" not in flat


def test_a_glob_matching_nothing_holds_the_checkpoint(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A glob matching nothing read 0 events and the checkpoints advanced."""
    monkeypatch.chdir(project)
    _job(project, ["data/demo/*.ndjson", "data/late/*.ndjson"])
    code, out = _run("run", "--once", "--now", NOW.isoformat())
    assert code != 0, out
    assert "data/late/*.ndjson: no file matches" in out.replace("\n", "")
    state = project / "state" / "state.json"
    start = (NOW - timedelta(hours=1)).isoformat()  # look_back: where a first run starts
    checkpoints = orjson.loads(state.read_bytes())["checkpoints"] if state.exists() else {}
    assert all(value == start for value in checkpoints.values()), checkpoints


def test_status_names_each_file_it_could_not_read(tmp_path: Path) -> None:
    from eqlwatch.backends.local_source import LocalEventSource

    good = tmp_path / "logs-a.ndjson"
    good.write_bytes(
        b'{"@timestamp": "2026-01-01T00:00:00Z", "event": {"category": ["process"]}}\n'
        b'{"@timestamp": "2026-01-01T00:00:02Z", "event": {"category": ["process"]}}\n'
        b"{torn\n"
        b'{"@timestamp": 1e300}\n'
    )
    (tmp_path / "logs-b.ndjson").write_bytes(b"not json\nnor this\n")
    (tmp_path / "logs-c.ndjson").symlink_to(tmp_path / "gone.ndjson")
    empty = tmp_path / "logs-d.ndjson"
    empty.write_bytes(b"")
    source = LocalEventSource([str(tmp_path / "logs-*.ndjson"), str(tmp_path / "none-*.json")])
    status = source.status(("logs-a",), "@timestamp")
    assert status.newest == datetime(2026, 1, 1, 0, 0, 2, tzinfo=UTC)
    assert (status.files_matched, status.files_read) == (4, 2)
    assert (status.records, status.records_skipped) == (2, 2)
    problems = "\n".join(status.problems)
    assert f"{tmp_path}/logs-b.ndjson:1" in problems
    assert "cannot tell the input format" in problems
    assert f"{tmp_path}/logs-c.ndjson: cannot read" in problems
    assert f"{tmp_path}/none-*.json: no file matches" in problems
    assert len(status.problems) == 3
    assert source.status(("other-*",), "@timestamp").newest is None


_event = st.fixed_dictionaries(
    {
        "@timestamp": st.one_of(
            st.integers(0, 60_000),  # epoch millis: the first minute of 1970
            st.sampled_from([1e300, "soon", None, float("inf")]),
        ),
        "event": st.fixed_dictionaries({"category": st.sampled_from(["process", "network"])}),
        "h": st.sampled_from(["a", "b"]),
        "n": st.integers(0, 3),
    }
)


@settings(max_examples=40, deadline=None)
@given(
    files=st.lists(st.lists(_event, max_size=12), min_size=1, max_size=3),
    kinds=st.lists(st.sampled_from(["ndjson", "gz", "array"]), min_size=3, max_size=3),
    bounds=st.tuples(st.integers(-1_000, 61_000), st.integers(-1_000, 61_000)),
    query=st.sampled_from(
        [
            "process where n > 0",
            "sequence by h [process where true] [network where true]",
            "sequence by h with maxspan=5s [process where n == 1] ![network where n == 2]"
            " [process where true]",
        ]
    ),
)
def test_window_search_equals_the_engine_over_the_window(
    tmp_path_factory: pytest.TempPathFactory,
    files: list[list[dict[str, Any]]],
    kinds: list[str],
    bounds: tuple[int, int],
    query: str,
) -> None:
    """Whatever the files' order, format and odd timestamps, a window's search answers what
    the engine answers over that window's events in (time, reading) order."""
    import gzip

    from eqlwatch.backends.local_source import LocalEventSource
    from eqlwatch.engine import SourceEvent, compile_query
    from eqlwatch.model import SearchRequest, TimeWindow

    base = tmp_path_factory.mktemp("window")
    expected: list[tuple[int, int, SourceEvent]] = []
    for n, (docs, kind) in enumerate(zip(files, kinds, strict=False)):
        body = b"".join(orjson.dumps(d) + b"\n" for d in docs)
        name = f"logs-{n}.json" if kind == "array" else f"logs-{n}.ndjson"
        path = base / (name + (".gz" if kind == "gz" else ""))
        data = orjson.dumps(docs) if kind == "array" else body
        path.write_bytes(gzip.compress(data) if kind == "gz" else data)
        for doc in docs:
            ts = doc["@timestamp"]
            if isinstance(ts, int) and min(bounds) <= ts < max(bounds):
                event = SourceEvent(f"logs-{n}", record_id(doc), doc)
                expected.append((ts, len(expected), event))
    expected.sort(key=lambda item: (item[0], item[1]))
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    window = TimeWindow(*(epoch + timedelta(milliseconds=b) for b in sorted(bounds)))
    source = LocalEventSource([str(base / "logs-*")])
    got = source.search(SearchRequest(query=query, indices=("logs-*",), window=window))
    want = compile_query(query).run([event for _, _, event in expected])
    assert [[(e.index, e.id) for e in h.events] for h in got.hits] == [
        [(e.index, e.id) for e in h.events] for h in want
    ]
    status = source.status(("logs-*",), "@timestamp")
    assert status.problems == ()
    assert status.records_skipped == sum(
        1 for docs in files for d in docs if not isinstance(d["@timestamp"], int)
    )


def test_a_number_orjson_refuses_is_skipped_not_retried_forever(tmp_path: Path) -> None:
    """msgspec reads `1e999` while indexing, orjson refuses it on read-back: that line is
    skipped (and logged), the window's other events still answer; no endless retry."""
    from eqlwatch.backends.local_source import LocalEventSource
    from eqlwatch.model import SearchRequest, TimeWindow

    (tmp_path / "logs-x.ndjson").write_bytes(
        b'{"@timestamp": "2026-01-01T00:00:00Z", "event": {"category": "process"}, "v": 1e999}\n'
        b'{"@timestamp": "2026-01-01T00:00:01Z", "event": {"category": "process"}, "v": 1}\n'
    )
    source = LocalEventSource([str(tmp_path / "*.ndjson")])
    window = TimeWindow(datetime(2025, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    result = source.search(SearchRequest("process where true", ("logs-*",), window))
    assert [h.events[0].source["v"] for h in result.hits] == [1]
