"""The core of `eqlwatch hunt`: rules over event files offline, then alerts for the hits.

The fast path reads each NDJSON file once, parses only lines some rule's needles occur in
(`hunt_scan`), holds back lines keyed sequences want only for later stages until their
first-stage keys are known (`hunt_defer`), and runs each rule over its own candidates —
the events the straightforward path would have fed it, minus lines that provably cannot
change its result, in the same order — so every rule returns the same hits. Raw Windows
formats are screened record by record before they are normalised (`hunt_raw`); JSON
arrays are read whole and every event goes to every rule. `screen=False`
is the straightforward path (every rule over every parsed event), the tests' reference.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from eqlwatch.backends.event_files import expand_paths
from eqlwatch.engine import CompiledQuery, SourceEvent
from eqlwatch.engine.identity import named
from eqlwatch.engine.needles import leaf_needles, query_screens, raw_needles
from eqlwatch.engine.query import gc_paused
from eqlwatch.engine.reader import ErrorCounter, index_name, read_event_file
from eqlwatch.errors import DataError, EqlwatchError, Location, QueryError
from eqlwatch.jsondump import dumps
from eqlwatch.model import Alert, Hit
from eqlwatch.pipeline.hunt_defer import Candidates, first_stage_needles
from eqlwatch.pipeline.hunt_index import categories_of, required_filters
from eqlwatch.pipeline.hunt_lines import LineRules, LineScan
from eqlwatch.pipeline.hunt_prepass import prepass
from eqlwatch.pipeline.hunt_raw import RawScreen
from eqlwatch.pipeline.hunt_scan import (
    ErrorHandler,
    NdjsonScan,
    ProgressHandler,
    ScanCounts,
    Screen,
    input_sample,
    open_lines,
)
from eqlwatch.pipeline.suppressing import suppress_at_once
from eqlwatch.rules import Rule
from eqlwatch.rules.compiled import compile_rule
from eqlwatch.sysmon import detect_format, read_windows_events
from eqlwatch.windowing import Selection, completion_time

if TYPE_CHECKING:  # alert building (notes, Jinja, enrichment): imported by callers that build
    from eqlwatch.pipeline.alerting import AlertBuilder


@dataclass
class HuntResult:
    """Hits per rule (in completion order), rules that failed, and what was read."""

    hits: list[tuple[Rule, list[Hit]]] = field(default_factory=list)
    failed: list[tuple[Rule, EqlwatchError]] = field(default_factory=list)
    counts: ScanCounts = field(default_factory=ScanCounts)


def hunt_files(
    rules: Sequence[Rule],
    paths: Iterable[str | Path],
    *,
    input_format: str = "auto",
    on_error: ErrorHandler | None = None,
    on_progress: ProgressHandler | None = None,
    on_file: Callable[[Path], None] | None = None,
    screen: bool = True,
    fast: bool = True,
) -> HuntResult:
    """Run every rule over every event of `paths`; bad records go to `on_error`, counted."""
    # Paused from the start: compiling and analysing hundreds of rules makes no reference
    # cycles either, yet set off collections that cost a warm hunt ~0.3 s before its
    # first event (gc.callbacks timing over detection-rules' Windows rules). The events
    # held for the rules are freed before it resumes (`_hunt` has returned): left alive,
    # the first collection after the pause walked every one of them (0.41-0.46 s of a
    # 5.7 s hunt of 200,000 endpoint events, gc.callbacks timing).
    with gc_paused():
        return _hunt(
            rules,
            paths,
            input_format=input_format,
            on_error=on_error,
            on_progress=on_progress,
            on_file=on_file,
            screen=screen,
            fast=fast,
        )


def _hunt(
    rules: Sequence[Rule],
    paths: Iterable[str | Path],
    *,
    input_format: str,
    on_error: ErrorHandler | None,
    on_progress: ProgressHandler | None,
    on_file: Callable[[Path], None] | None,
    screen: bool,
    fast: bool,
) -> HuntResult:
    """`hunt_files`' work, with the collector paused."""
    result = HuntResult()
    rules, queries = _compile_all(rules, result.failed)
    files = expand_paths(paths)

    def report(error: DataError) -> None:
        result.counts.malformed += 1
        if on_error is not None:
            on_error(error)

    sample = input_sample(files, input_format) if screen else None
    if sample is not None:
        sample.prime(n for q in queries for n in leaf_needles(q))
    screens = [query_screens(q, sample) for q in queries] if screen else [None] * len(rules)
    categories = [categories_of(q) for q in queries] if screen else None
    required = [required_filters(q) for q in queries]
    before = prepass(screens, required, files, input_format, sample) if screen and fast else None
    if before is not None:
        screens = [() if r in before.unreachable else s for r, s in enumerate(screens)]
    first = [first_stage_needles(q, sample) if screen else None for q in queries]
    raw = RawScreen([raw_needles(q) if screen else None for q in queries], result.counts, fast)
    lines = LineScan(LineRules(queries, fast), raw, report) if raw.active else None
    holding = lines.rules.holding if lines is not None else ()
    # Filters and samples need no time order: evaluated as their events come.
    streams = [
        q.executor() if q.parsed.kind != "sequence" and i not in holding else None
        for i, q in enumerate(queries)
    ]
    store = Candidates(first, track=holding, streams=streams)
    # Content-hash ids are computed for the events of hits only (`named`, below).
    scan = NdjsonScan(
        Screen(screens, fast, categories, required),
        store,
        result.counts,
        report,
        on_progress,
        ids=False,
    )
    everyone = list(range(len(rules)))
    for path in files:
        for event, targets in _read_file(path, input_format, scan, raw, lines, report):
            store.add(result.counts.events, event, targets or everyone)
            result.counts.events += 1
        if on_file is not None:
            on_file(path)
    for path in before.changed() if before is not None else ():
        report(DataError("changed while being read", location=Location(file=str(path))))
    candidates = store.resolve(queries, scan.reread, scan.decode_held, fast=fast)
    if lines is not None:
        candidates = store.merge(lines.resolve(queries, candidates))
    index = scan.screen.rules
    # Only when every event went through the line screen (no raw record, JSON array,
    # unscreened file) does a stage no line passed prove a sequence has no hit.
    trusted = index is not None and scan.screened == result.counts.events
    unmet = index.unmet() if trusted and index is not None else frozenset()
    # Still paused: each rule's run would otherwise end with a full collection over
    # every candidate held for the rules after it.
    for number, (rule, query, events) in enumerate(zip(rules, queries, candidates, strict=True)):
        if number in unmet or (screen and _stage_unmatched(query, events, required[number])):
            result.hits.append((rule, []))
            continue
        try:
            hits = store.finish(number) if store.streamed(number) else query.run(events)
            hits = named(hits)
        except EqlwatchError as exc:
            result.failed.append((rule, exc))
            continue
        hits.sort(key=_time_order)
        result.hits.append((rule, hits))
    return result


def _stage_unmatched(
    query: CompiledQuery, events: Sequence[SourceEvent], required: frozenset[int]
) -> bool:
    """Whether some positive stage of a sequence matches none of its candidates: a hit
    needs an event matching each, so the run would find nothing. Each stage is looked
    for until its first match (a broad stage costs a few events); a stage no candidate
    matches costs one pass, which the run it spares (its msiexec connection stage over
    every connection of an endpoint log, say) costs at least. An error evaluating a
    stage leaves the answer to the run, which reports it."""
    for i in sorted(required):
        try:
            if not any(query.plan_for(e[0]).stages[i].match(e[2]) for e in events):
                return True
        except EqlwatchError:
            return False
    return False


_UNTIMED = datetime(1, 1, 1, tzinfo=UTC)


def _time_order(hit: Hit) -> datetime:
    """A hit's completion time; a `sample` may join events without a timestamp (its
    samples are not ordered by time, as in Elasticsearch): those come first, not a crash."""
    try:
        return completion_time(hit)
    except DataError:
        return _UNTIMED


def _compile_all(
    rules: Sequence[Rule], failed: list[tuple[Rule, EqlwatchError]]
) -> tuple[list[Rule], list[CompiledQuery]]:
    """Each rule's query, compiled once per process; a rule that cannot compile is failed."""
    kept: list[Rule] = []
    queries: list[CompiledQuery] = []
    for rule in rules:
        try:
            queries.append(compile_rule(rule))
        except EqlwatchError as exc:
            failed.append((rule, exc))
            continue
        except Exception as exc:  # one rule's failure must not stop the hunt
            failed.append((rule, QueryError(f"query cannot be compiled: {exc!r}")))
            continue
        kept.append(rule)
    return kept, queries


def _format_of(path: Path, input_format: str) -> str:
    return detect_format(path) if input_format == "auto" else input_format


def _read_file(
    path: Path,
    input_format: str,
    scan: NdjsonScan,
    raw: RawScreen,
    lines: LineScan | None,
    report: ErrorHandler,
) -> Iterator[tuple[SourceEvent, list[int] | None]]:
    """Events and the rules they go to (None: every rule); screened NDJSON lines go straight
    to the scan's candidates."""
    if not path.exists():
        report(DataError("no such file or directory", location=Location(file=str(path))))
        return
    try:
        fmt = _format_of(path, input_format)
    except DataError as error:
        report(error)
        return
    if fmt != "ecs" and lines is not None and lines.applies(path, fmt):
        for normalized, targets in lines.read(path, fmt):
            yield SourceEvent(normalized.index, normalized.id, normalized.source), targets
        return
    if fmt != "ecs":
        keep = raw.keep if raw.active else None
        for normalized in read_windows_events(path, fmt, on_error=report, screen=keep):
            event = SourceEvent(normalized.index, normalized.id, normalized.source)
            if keep is None:
                raw.counts.normalized += 1
            yield event, raw.targets if keep is not None else None
        return
    try:
        stream = open_lines(path)
    except OSError as exc:
        report(DataError(f"cannot open: {exc.strerror}", location=Location(file=str(path))))
        return
    with stream:
        head = stream.peek(64).lstrip()
        if head.startswith(b"[") or scan.screen.match is None:
            events, _ = read_event_file(path, errors=ErrorCounter(on_error=report))
            for event in events:
                yield event, None
            return
        scan.scan(stream, path, index_name(path))


def build_alerts(
    result: HuntResult, builder: AlertBuilder, *, detected_at: datetime
) -> Iterator[Alert]:
    """Alerts for the hits, rule by rule; excepted hits give none; a rule with suppression
    gives one alert per bucket, as a scheduled run would (docs/hunt.md)."""
    for rule, hits in result.hits:
        pairs = []
        for hit in hits:
            alert = builder(rule, hit, detected_at=detected_at)
            if alert is not None:
                pairs.append((hit, alert))
        if rule.eqlwatch.suppression is None:
            yield from (alert for _, alert in pairs)
            continue
        fields = rule.event_fields(builder.timestamp_field)
        selection = Selection(
            timestamp_field=fields.timestamp_field,
            override=rule.rule.timestamp_override or None,
            fallback=not rule.rule.timestamp_override_fallback_disabled,
        )
        yield from suppress_at_once(rule, pairs, selection)


def alert_line(alert: Alert) -> bytes:
    """One alert as an NDJSON line, as `hunt --format ndjson` prints it."""
    return dumps(alert.document, default=str) + b"\n"
