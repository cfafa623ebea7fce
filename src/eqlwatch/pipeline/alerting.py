"""Hit → alert: exceptions, IP enrichment, the rendered note, the ECS document.

One object per job so templates compile once and the IP table's cache stays warm; note
failures are counted per rule so run reports show them.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from eqlwatch.alerts import MAX_STRING_BYTES, Links, alert_id, build_alert
from eqlwatch.depth import room
from eqlwatch.enrich import Enricher, IpTable
from eqlwatch.grouping import DEFAULT_SPAN, group_of
from eqlwatch.hitfacts import facts_of, present_sources
from eqlwatch.model import Alert, Hit
from eqlwatch.notes import NoteRenderer
from eqlwatch.notes.limits import RenderLimits
from eqlwatch.notes.render import alert_view
from eqlwatch.pipeline.reports import RunReport
from eqlwatch.rules import Rule, is_excepted


class AlertBuilder:
    def __init__(
        self,
        *,
        job_id: str,
        templates_dir: Path | None,
        ip_table: IpTable,
        links: Links | None = None,
        timestamp_field: str = "@timestamp",
        note_limits: RenderLimits | None = None,
        max_string_bytes: int = MAX_STRING_BYTES,
        group_span: timedelta = DEFAULT_SPAN,
    ) -> None:
        self.job_id = job_id
        self.renderer = NoteRenderer(templates_dir, limits=note_limits)
        self.max_string_bytes = max_string_bytes
        self.enricher = Enricher(ip_table)
        self.links = links or Links()
        self.timestamp_field = timestamp_field
        self.note_errors: Counter[str] = Counter()
        self.group_span = group_span

    def __call__(self, rule: Rule, hit: Hit, *, detected_at: datetime) -> Alert | None:
        with room():  # the walks below recurse as deep as an event nests
            return self._build(rule, hit, detected_at)

    def _build(self, rule: Rule, hit: Hit, detected_at: datetime) -> Alert | None:
        if is_excepted(rule, hit):
            return None
        # One walk over the events finds the IPs and tells which events are plain; the
        # note and the document then share what was read from them (`hitfacts`).
        sources = present_sources(hit)
        enrichment, plain = self.enricher.scan(sources)
        facts = facts_of(sources, plain, self.timestamp_field)
        ident = alert_id(rule.rule_id, hit.events)
        view = alert_view(
            ident,
            rule,
            hit,
            job_id=self.job_id,
            detected_at=detected_at.isoformat(),
            timestamp_field=self.timestamp_field,
            facts=facts,
        )
        note = self.renderer.render(rule, hit, enrichment, alert=view, facts=facts)
        if note.error is not None:
            self.note_errors[rule.rule_id] += 1
        alert = build_alert(
            rule,
            hit,
            enrichment,
            note.text,
            detected_at=detected_at,
            job_id=self.job_id,
            links=self.links,
            timestamp_field=self.timestamp_field,
            facts=facts,
            ident=ident,
            note_error=note.error,
            max_string_bytes=self.max_string_bytes,
        )
        group = group_of(alert.document, self.group_span)  # across rules: docs/actions.md
        if group is not None:
            alert.document["eqlwatch"]["group"] = group
        return alert

    def attach_counts(self, report: RunReport) -> RunReport:
        """The report with the note failures of its rule since the last call."""
        errors = self.note_errors.pop(report.rule_id, 0)
        return dataclasses.replace(report, note_errors=errors) if errors else report
