"""JobRuntime: one rule's unexpected failure is reported and the other rules still run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from eqlwatch.backends.memory import MemorySink, MemoryStateStore
from eqlwatch.jobs import Job, Schedule
from eqlwatch.model import Alert, Hit
from eqlwatch.pipeline.job import Backends, JobRuntime, prepare_rules
from eqlwatch.rules import Rule
from tests.pipeline.doubles import HitsSource, hit_at, make_rule, simple_alert

T0 = datetime(2026, 11, 21, tzinfo=UTC)


class _Builder:
    """simple_alert, except that rule "bad" raises a bug-like error."""

    def __call__(self, rule: Rule, hit: Hit, *, detected_at: datetime) -> Alert | None:
        if rule.rule_id == "bad":
            raise ZeroDivisionError("bug in a template helper")
        return simple_alert(rule, hit, detected_at=detected_at)

    def attach_counts(self, report):
        return report


def test_unexpected_error_in_one_rule_does_not_stop_the_others() -> None:
    job = Job(id="j", schedule=Schedule(interval=timedelta(minutes=5)))
    rules = [make_rule(rule_id="bad"), make_rule(rule_id="good")]
    prepared, errors = prepare_rules(job, rules)
    assert not errors
    source = HitsSource([(T0 + timedelta(minutes=5), hit_at(T0 + timedelta(minutes=5), 1))])
    sink, state = MemorySink(), MemoryStateStore()
    runtime = JobRuntime(
        job=job,
        rules=prepared,
        backends=Backends(source, sink, state),
        alerts=_Builder(),  # type: ignore[arg-type]
    )
    summary = runtime.run_once(T0 + timedelta(minutes=30))
    by_rule = {r.rule_id: r for r in summary.reports}
    assert by_rule["bad"].status == "error"
    assert "ZeroDivisionError" in by_rule["bad"].errors[0]
    assert by_rule["good"].status == "ok"
    assert by_rule["good"].alerts_created == 1
    assert summary.failed
