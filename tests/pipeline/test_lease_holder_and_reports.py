"""A skipped rule names who holds its lease; a torn run report never spoils the next."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from eqlwatch.backends.local_state import LocalStateStore
from eqlwatch.backends.memory import MemorySink
from eqlwatch.pipeline.backends import LocalRunReports
from eqlwatch.pipeline.reports import RunReport
from eqlwatch.pipeline.runner import RuleRunner, RunnerSettings
from tests.pipeline.doubles import HitsSource, make_rule, simple_alert
from tests.pipeline.test_runner import _policy

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def test_a_skipped_rule_names_the_live_process_holding_its_lease(tmp_path: Path) -> None:
    state = LocalStateStore(tmp_path / "state.json")
    # A live process of this host (this test's own pid) holds the rule's lease.
    assert state.acquire_lease("job/r1", "other-replica", T0, 600.0) is not None
    runner = RuleRunner(
        settings=RunnerSettings(job_id="job", backoff_s=0.0),
        source=HitsSource([]),
        sink=MemorySink(),
        state=state,
        make_alert=simple_alert,
        owner="me",
        sleep=lambda _s: None,
        wall_clock=lambda: T0 + timedelta(minutes=1),  # the lease has not expired yet
    )
    report = runner.run(make_rule(), _policy(), now=T0 + timedelta(minutes=5), run_id="r")
    assert report.status == "skipped"
    (note,) = report.notes
    assert note.startswith("another replica holds the lease (")
    assert "other-replica" in note
    assert str(os.getpid()) in note


def _report(n: int) -> RunReport:
    return RunReport(
        job_id="job",
        run_id=f"run{n}",
        rule_id="r1",
        rule_name="R",
        started=T0,
        duration_s=0.1,
        status="ok",
    )


def test_a_torn_run_report_is_dropped_before_the_next_append(tmp_path: Path) -> None:
    path = tmp_path / "out" / "runs.ndjson"
    sink = LocalRunReports(path)
    sink.write_reports([_report(1)])
    with path.open("ab") as handle:  # a writer killed mid-line
        handle.write(b'{"@timestamp": "2026-11-21T12:00:00+00:00", "eve')
    sink.write_reports([_report(2), _report(3)])
    lines = path.read_bytes().splitlines()
    runs = [orjson.loads(line)["eqlwatch"]["run"]["run_id"] for line in lines]
    assert runs == ["run1", "run2", "run3"]
