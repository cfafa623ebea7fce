"""Opens the backends a job names: local files, or Elasticsearch (settings from the env).

The only place that chooses an implementation; everything after it sees the seams.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import orjson

from eqlwatch.backends.base import AlertSink, EventSource, StateStore
from eqlwatch.backends.filelock import exclusive
from eqlwatch.backends.local_sink import LocalFileSink
from eqlwatch.backends.local_source import LocalEventSource
from eqlwatch.backends.local_state import LocalStateStore
from eqlwatch.demo import ensure_demo_data
from eqlwatch.errors import BackendError
from eqlwatch.jobs import Job, LocalAlerts, LocalSource, LocalState
from eqlwatch.pipeline.job import Backends
from eqlwatch.pipeline.reports import Report, ReportSink
from eqlwatch.settings import RUNS_DATA_STREAM

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch


class LocalRunReports:
    """Run reports appended to an NDJSON file beside the alerts."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write_reports(self, reports: Sequence[Report]) -> None:
        """Append under the file's lock; a report torn by a killed writer is dropped first
        (reports are telemetry: losing a half-written one beats corrupting the next)."""
        payload = b"".join(orjson.dumps(r.to_document()) + b"\n" for r in reports)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with exclusive(self.path), self.path.open("ab+") as handle:
                handle.seek(0, os.SEEK_END)
                if handle.tell() > 0:
                    handle.seek(-1, os.SEEK_END)
                    if handle.read(1) != b"\n":
                        _drop_torn_tail(handle)
                handle.write(payload)
        except OSError as exc:
            raise BackendError(f"cannot write run reports to {self.path}: {exc}") from exc


def _drop_torn_tail(handle: BinaryIO) -> None:
    """Truncate an unterminated last line (read backwards in blocks; files can be large)."""
    end = handle.seek(0, os.SEEK_END)
    position = end
    while position > 0:
        start = max(0, position - 65536)
        handle.seek(start)
        block = handle.read(position - start)
        newline = block.rfind(b"\n")
        if newline >= 0:
            handle.truncate(start + newline + 1)
            return
        position = start
    handle.truncate(0)


def open_backends(job: Job, *, now: datetime, env: Mapping[str, str] | None = None) -> Backends:
    """The job's source, sink, state store and report sink, ready to use."""
    client = None
    configs = (job.source, job.alerts, job.state)
    if not all(isinstance(c, LocalSource | LocalAlerts | LocalState) for c in configs):
        client = _client(os.environ if env is None else env)
    return Backends(
        source=_source(job, client, now),
        sink=_sink(job, client),
        state=_state(job, client),
        reports=_reports(job, client),
    )


def _client(env: Mapping[str, str]) -> Elasticsearch:
    """The job's client retries nothing itself: the runner is the one retry layer (with
    backoff, within each rule run's deadline), so failures are not retried 3 x 4 times."""
    from eqlwatch.backends.elasticsearch import build_client
    from eqlwatch.settings import settings_from_env

    settings = settings_from_env(env)
    return build_client(settings.model_copy(update={"max_retries": 0}))


def _source(job: Job, client: Elasticsearch | None, now: datetime) -> EventSource:
    if isinstance(job.source, LocalSource):
        paths = [str(job.resolve(p)) for p in job.source.paths]
        if job.source.generate_demo:
            ensure_demo_data(job.resolve(job.source.paths[0]).parent, now=now)
        return LocalEventSource(
            paths,
            input_format=job.source.input_format,
            timestamp_field=job.timestamp_field,
            ledger=arrival_ledger(job),
            ingest_delay=job.ingest_delay,
        )
    from eqlwatch.backends.elasticsearch import ElasticsearchEventSource, EqlOptions

    assert client is not None
    # An async search is never awaited past the rule run's deadline.
    wait = min(EqlOptions().max_wait_s, job.run_deadline.total_seconds())
    return ElasticsearchEventSource(client, EqlOptions(max_wait_s=wait))


def arrival_ledger(job: Job) -> Path:
    """The local source's arrival ledger: beside the local state file, else in state/."""
    folder = Path(job.state.path).parent if isinstance(job.state, LocalState) else Path("state")
    return job.resolve(str(folder / f"arrivals-{job.id}.json"))


def _sink(job: Job, client: Elasticsearch | None) -> AlertSink:
    if isinstance(job.alerts, LocalAlerts):
        return LocalFileSink(job.resolve(job.alerts.path))
    from eqlwatch.backends.elasticsearch import ElasticsearchAlertSink

    assert client is not None
    return ElasticsearchAlertSink(client, job.alerts.data_stream)


def _reports(job: Job, client: Elasticsearch | None) -> ReportSink:
    if isinstance(job.alerts, LocalAlerts):
        return LocalRunReports(job.resolve(job.alerts.path).with_name("runs.ndjson"))
    from eqlwatch.backends.elasticsearch import ElasticsearchRunReports

    assert client is not None
    return ElasticsearchRunReports(client, RUNS_DATA_STREAM)


def _state(job: Job, client: Elasticsearch | None) -> StateStore:
    if isinstance(job.state, LocalState):
        return LocalStateStore(job.resolve(job.state.path))
    from eqlwatch.backends.elasticsearch import ElasticsearchStateStore

    assert client is not None
    return ElasticsearchStateStore(client, job.state.index)
