"""A run's notifications as a run-report document, so Kibana can chart deliveries.

Written beside the per-rule run reports (same data stream or NDJSON file), one per job run
that has actions. It carries `eqlwatch.notifications.*` and no `eqlwatch.run`, so panels
over rule runs do not count it as a rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eqlwatch.actions.dispatch import DeliveryStats


@dataclass(frozen=True, slots=True)
class NotificationReport:
    job_id: str
    run_id: str
    started: datetime
    stats: DeliveryStats

    def to_document(self) -> dict[str, Any]:
        s = self.stats
        failed = s.gave_up > 0 or bool(s.errors)
        return {
            "@timestamp": self.started.isoformat(),
            "event": {
                "kind": "metric",
                "dataset": "eqlwatch.runs",
                "outcome": "failure" if failed else "success",
            },
            "eqlwatch": {
                "notifications": {
                    "job_id": self.job_id,
                    "run_id": self.run_id,
                    "recorded": s.recorded,
                    "sent": s.sent,
                    "retried": s.retried,
                    "gave_up": s.gave_up,
                    "throttled": s.throttled,
                    "pending": s.pending,
                    "errors": list(s.errors),
                }
            },
        }
