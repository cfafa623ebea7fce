from __future__ import annotations

from datetime import UTC, datetime

import prometheus_client

from eqlwatch.metrics import Metrics
from eqlwatch.pipeline.reports import RunReport


def test_reports_become_metrics() -> None:
    registry = prometheus_client.CollectorRegistry()
    metrics = Metrics(registry)
    report = RunReport(
        job_id="j",
        run_id="r",
        rule_id="rule-1",
        rule_name="R",
        duration_s=0.5,
        started=datetime(2026, 1, 1, tzinfo=UTC),
        status="error",
        hits=7,
        alerts_created=3,
        errors=("boom",),
        note_errors=1,
        lag_s=42.0,
    )
    metrics.observe(report)
    metrics.observe(report)
    labels = {"job": "j", "rule": "rule-1"}
    value = registry.get_sample_value
    assert value("eqlwatch_runs_total", {**labels, "status": "error"}) == 2
    assert value("eqlwatch_hits_total", labels) == 14
    assert value("eqlwatch_alerts_created_total", labels) == 6
    assert value("eqlwatch_errors_total", labels) == 4
    assert value("eqlwatch_lag_seconds", labels) == 42.0
    assert value("eqlwatch_run_duration_seconds_count", labels) == 2
