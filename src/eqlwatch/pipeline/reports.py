"""Run reports: one per rule run, so rule health (runs, lag, errors, source) is data too."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

FAILED_STATUSES = frozenset({"error", "no-data"})


@dataclass(frozen=True, slots=True)
class RunReport:
    job_id: str
    run_id: str
    rule_id: str
    rule_name: str
    started: datetime
    duration_s: float
    # "ok" | "error" | "no-data" (source not read completely) | "waiting" (for the source's
    # watermark) | "skipped" (another replica holds the lease) | "partial" (deadline reached)
    # | "unsupported" (the cluster is older than the rule's min_stack_version)
    status: str
    window_start: datetime | None = None
    window_end: datetime | None = None
    checkpoint: datetime | None = None
    lag_s: float | None = None
    searches: int = 0
    hits: int = 0
    alerts_created: int = 0
    alerts_existing: int = 0
    alerts_excepted: int = 0
    alerts_suppressed: int = 0  # matches merged into existing alerts (suppression)
    note_errors: int = 0
    errors: tuple[str, ...] = field(default_factory=tuple)
    notes: tuple[str, ...] = field(default_factory=tuple)
    source_newest: datetime | None = None
    source_lag_s: float | None = None
    files_matched: int = 0
    files_read: int = 0
    records: int = 0
    records_skipped: int = 0
    late_events: int = 0  # the source's, first seen this run (see SourceStatus)
    late_max_delay_s: float = 0.0
    late_by_file: tuple[tuple[str, int], ...] = field(default_factory=tuple)
    late_hits: int = 0  # this rule's hits whose selection time is past event time + delay

    @property
    def failed(self) -> bool:
        """A run that evaluated less than it should have for a reason someone must fix."""
        return self.status in FAILED_STATUSES

    def to_document(self) -> dict[str, Any]:
        """ECS-flavoured document for a run-report data stream or NDJSON file."""
        body = asdict(self)
        for key in ("started", "window_start", "window_end", "checkpoint", "source_newest"):
            value = body[key]
            body[key] = value.isoformat() if isinstance(value, datetime) else None
        body["errors"] = list(self.errors)
        body["notes"] = list(self.notes)
        body["late_by_file"] = [{"file": f, "count": n} for f, n in self.late_by_file]
        return {
            "@timestamp": self.started.isoformat(),
            "event": {
                "kind": "metric",
                "dataset": "eqlwatch.runs",
                "outcome": "failure" if self.failed else "success",
                "duration": int(self.duration_s * 1e9),
            },
            "rule": {"id": self.rule_id, "name": self.rule_name},
            "eqlwatch": {"run": body},
        }


class Report(Protocol):
    """Anything written as a run-report document (a rule's run, a run's notifications)."""

    def to_document(self) -> dict[str, Any]: ...


@runtime_checkable
class ReportSink(Protocol):
    def write_reports(self, reports: Sequence[Report]) -> None: ...
