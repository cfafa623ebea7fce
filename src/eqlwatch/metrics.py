"""Optional Prometheus metrics, fed from run reports (runs, hits, alerts, errors, lag, duration).

prometheus-client is an optional extra (`eqlwatch[metrics]`); without it `--metrics-port`
fails with a clear message instead of half-working.
"""

from __future__ import annotations

from typing import Any

from eqlwatch.errors import ConfigError
from eqlwatch.pipeline.reports import RunReport


class Metrics:
    def __init__(self, registry: Any = None) -> None:
        try:
            import prometheus_client as prom
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ConfigError(
                "metrics need the optional dependency: pip install 'eqlwatch[metrics]'"
            ) from exc
        self._prom = prom
        kw: dict[str, Any] = {"registry": registry} if registry is not None else {}
        labels = ["job", "rule"]
        self.runs = prom.Counter("eqlwatch_runs", "Rule runs by status", [*labels, "status"], **kw)
        self.hits = prom.Counter("eqlwatch_hits", "Hits returned by searches", labels, **kw)
        self.alerts = prom.Counter("eqlwatch_alerts_created", "New alerts written", labels, **kw)
        self.errors = prom.Counter("eqlwatch_errors", "Errors in rule runs", labels, **kw)
        self.lag = prom.Gauge(
            "eqlwatch_lag_seconds", "Run time minus the rule's checkpoint", labels, **kw
        )
        self.duration = prom.Histogram(
            "eqlwatch_run_duration_seconds", "Duration of one rule run", labels, **kw
        )

    def observe(self, report: RunReport) -> None:
        labels = {"job": report.job_id, "rule": report.rule_id}
        self.runs.labels(**labels, status=report.status).inc()
        self.hits.labels(**labels).inc(report.hits)
        self.alerts.labels(**labels).inc(report.alerts_created)
        self.errors.labels(**labels).inc(len(report.errors) + report.note_errors)
        if report.lag_s is not None:
            self.lag.labels(**labels).set(report.lag_s)
        self.duration.labels(**labels).observe(report.duration_s)

    def serve(self, port: int, addr: str = "127.0.0.1") -> None:
        self._prom.start_http_server(port, addr=addr)
