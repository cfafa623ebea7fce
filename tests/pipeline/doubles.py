"""Small real doubles for pipeline tests: an event source over precomputed hits, a rule."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from eqlwatch.backends.base import SourceStatus
from eqlwatch.engine import compile_query
from eqlwatch.errors import RetryableBackendError
from eqlwatch.model import Alert, Hit, HitEvent, SearchRequest, SearchResult
from eqlwatch.rules import Rule, parse_rule
from eqlwatch.windowing import WindowPolicy, policy_for

RULE_TOML = """
[metadata]
creation_date = "2026/11/21"
[rule]
rule_id = "{rule_id}"
name = "Test rule"
description = "test"
type = "eql"
language = "eql"
index = ["logs-*"]
query = '''{query}'''
risk_score = 50
severity = "medium"
"""


def make_rule(query: str = 'process where process.name == "x"', rule_id: str = "r1") -> Rule:
    rule, errors = parse_rule(RULE_TOML.format(query=query, rule_id=rule_id), file="t.toml")
    assert rule is not None, errors
    return rule


def hit_at(ts: datetime, n: int) -> Hit:
    stamp = ts.isoformat().replace("+00:00", "Z")
    return Hit("event", (HitEvent("idx", str(n), {"@timestamp": stamp, "n": n}),))


@dataclass
class HitsSource:
    """Answers with the precomputed hits whose last event lies in the query window."""

    hits: Sequence[tuple[datetime, Hit]]
    fail_next: int = 0
    requests: list[SearchRequest] = field(default_factory=list)
    problems: tuple[str, ...] = ()

    def status(self, indices: tuple[str, ...], timestamp_field: str) -> SourceStatus:
        """The newest hit's time is the watermark; `problems` are reported as set."""
        newest = max((ts for ts, _ in self.hits), default=None)
        return SourceStatus(newest=newest, problems=self.problems, records=len(self.hits))

    def search(self, request: SearchRequest) -> SearchResult:
        self.requests.append(request)
        if self.fail_next > 0:
            self.fail_next -= 1
            raise RetryableBackendError("injected: connection refused")
        assert request.window is not None
        found = [h for ts, h in self.hits if request.window.start <= ts < request.window.end]
        page = found[: request.size]
        return SearchResult(tuple(page), total=len(found), relation="eq")


def simple_alert(rule: Rule, hit: Hit, *, detected_at: datetime) -> Alert:
    refs = "|".join(f"{e.index}/{e.id}" for e in hit.events)
    digest = hashlib.sha256(f"{rule.rule_id}|{refs}".encode()).hexdigest()
    return Alert(digest, rule.rule_id, {"refs": refs})


def policy_for_query(
    query: str, *, max_chunk: timedelta, max_slices: int, look_back: timedelta
) -> WindowPolicy:
    """The window policy a job with these limits gives the query (30 s ingest delay)."""
    info = compile_query(query).info
    return policy_for(
        maxspan=info.maxspan,
        has_until=info.has_until,
        has_trailing_missing=info.has_trailing_missing,
        kind=info.kind,
        ingest_delay=timedelta(seconds=30),
        look_back=look_back,
        max_chunk=max_chunk,
        max_slices=max_slices,
        min_split=timedelta(milliseconds=1),
        max_sequence_span=timedelta(hours=1),
    )
