"""`eqlwatch query 'QUERY' --events PATH ...`: run EQL over event files, no cluster.

Reads what `hunt` reads, detected per file the same way: ECS NDJSON/JSON (gzipped or not),
EVTX and the raw Windows/Sysmon export formats, folders (recursively) and glob patterns.
Prints an Elasticsearch EQL search response (`{"is_partial": false, ..., "hits": {...}}`)
whose `hits` is what Elasticsearch returns: `total`, then `events` or `sequences` (samples
come back as sequences, as in Elasticsearch). Malformed records are reported on stderr as
`file:line: message` and skipped; their count is printed at the end.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, overload

import typer

from eqlwatch.backends.event_files import expand_paths
from eqlwatch.cli.answer import write_answer
from eqlwatch.engine import (
    CompiledQuery,
    FieldSchema,
    Hit,
    SourceEvent,
    compile_query,
    load_mapping,
)
from eqlwatch.engine.identity import named, shown
from eqlwatch.engine.needles import query_needles, raw_needles
from eqlwatch.engine.query import gc_paused
from eqlwatch.engine.reader import ErrorCounter, index_name, read_event_file
from eqlwatch.errors import DataError, EqlwatchError, Location, QueryError
from eqlwatch.jsondump import dumps
from eqlwatch.sysmon import INPUT_FORMATS, detect_format, read_windows_events

if TYPE_CHECKING:
    from eqlwatch.pipeline.hunt_raw import RawScreen
    from eqlwatch.pipeline.hunt_scan import NdjsonScan


def hits_body(hits: list[Hit], kind: str) -> dict[str, Any]:
    """The `hits` object of an Elasticsearch EQL response (its `events` or `sequences`
    named as they are written, see `AnswerItems`)."""
    body: dict[str, Any] = {"total": {"value": len(hits), "relation": "eq"}}
    body["events" if kind == "event" else "sequences"] = AnswerItems(hits, kind) if hits else []
    return body


class AnswerItems(Sequence[dict[str, Any]]):
    """The hits as Elasticsearch shows them, each named (`identity.named`: its `_id`, and
    its source parsed whole when only its line was kept) when it is asked for. The writer
    asks a batch at a time, so the whole sources of a big answer are never all held at
    once, and each is dumped right after it is parsed and named."""

    def __init__(self, hits: list[Hit], kind: str) -> None:
        self.hits, self.kind = hits, kind

    def __len__(self) -> int:
        return len(self.hits)

    @overload
    def __getitem__(self, at: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, at: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, at: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(at, slice):
            return [self._shown(hit) for hit in self.hits[at]]
        return self._shown(self.hits[at])

    def _shown(self, hit: Hit) -> dict[str, Any]:
        if self.kind == "event":
            return shown(hit.events[0])
        return {"join_keys": list(hit.join_keys), "events": [shown(e) for e in hit.events]}


def _schema(events: list[Path], mappings: list[Path]) -> FieldSchema | None:
    if not mappings:
        return None
    if len(mappings) == 1:
        return load_mapping(mappings[0])
    if len(mappings) != len(events):
        raise DataError(
            f"--mapping given {len(mappings)} times: give it once, or once per --events "
            f"({len(events)})"
        )
    folders = [str(e) for e in events if e.is_dir()]
    if folders:
        raise DataError(
            f"--mapping once per --events needs files, each its own index; {folders[0]} "
            "is a folder (give --mapping once for all events)"
        )
    return FieldSchema(
        indices={index_name(e): load_mapping(m) for e, m in zip(events, mappings, strict=True)}
    )


def _table(hits: list[Hit]) -> str:
    from rich.console import Console
    from rich.table import Table

    table = Table("#", "kind", "join keys", "_index", "_id", "event")
    for n, hit in enumerate(hits, 1):
        for e in hit.events:
            text = "(missing)" if e.missing else dumps(dict(e.source)).decode()[:120]
            keys = ", ".join(map(str, hit.join_keys))
            table.add_row(str(n), hit.kind, keys, e.index, e.id, text)
    console = Console(width=200, record=True)
    with console.capture() as cap:
        console.print(table)
    return cap.get()


def _report(error: DataError) -> None:
    typer.echo(str(error), err=True)


def event_files(events: list[Path]) -> list[Path]:
    """Every file named, found in a folder or matched by a pattern; DataError for an
    argument that names nothing (a typo must not look like a search that found nothing)."""
    files: list[Path] = []
    for given in events:
        found = expand_paths([given])
        if not found or not all(p.exists() for p in found):
            what = "no event file in this folder" if given.is_dir() else "no such file"
            raise DataError(what, location=Location(file=str(given)))
        files.extend(p for p in found if p not in files)
    return files


def _read(
    files: list[Path], input_format: str, counter: ErrorCounter, screen: QueryScreen
) -> Iterator[SourceEvent]:
    """Each file in its format, told as `hunt` tells it; a file that is no Windows export
    is read as JSON documents (what Elasticsearch would index), every bad line reported."""
    for path in files:
        fmt = input_format
        if fmt == "auto":
            try:
                fmt = detect_format(path)
            except DataError:
                fmt = "ecs"
        if fmt == "ecs":
            yield from screen.ndjson(path, counter)
            continue
        keep = screen.raw.keep if screen.raw is not None else None
        for event in read_windows_events(path, fmt, on_error=counter.add, screen=keep):
            yield SourceEvent(event.index, event.id, event.source)


def _again(
    files: list[Path], input_format: str, counter: ErrorCounter, screen: QueryScreen
) -> Callable[[], Iterator[SourceEvent]] | None:
    """A second read of the same files, for a sequence whose events turn out not to be in
    time order: errors the first read already reported are counted, not told again. None
    when a file cannot be read twice (a pipe): the engine keeps what it read instead."""
    if not all(p.is_file() for p in files):
        return None

    def read_again() -> Iterator[SourceEvent]:
        told, seen = counter.count, 0
        counter.count = 0
        counter.errors.clear()

        def tell(error: DataError) -> None:
            nonlocal seen
            seen += 1
            if seen > told:
                _report(error)

        counter.on_error = tell
        return _read(files, input_format, counter, screen)

    return read_again


SCREEN_MIN_BYTES = 1 << 20


class QueryScreen:
    """Lines and raw records the query cannot match are not parsed or normalised (as in
    `hunt`), only validated, so every malformed line is still reported. The needles hold
    only for a query compiled without a mapping: with one, `active` is False. The screens
    are imported only when the query has needles (start-up of small queries)."""

    def __init__(
        self, compiled: CompiledQuery, active: bool, files: Sequence[Path] = (), fmt: str = "auto"
    ) -> None:
        self.scan: NdjsonScan | None = None
        self.raw: RawScreen | None = None
        if active and query_needles(compiled) is not None:
            from eqlwatch.pipeline.hunt_defer import Candidates
            from eqlwatch.pipeline.hunt_scan import NdjsonScan, ScanCounts, Screen, input_sample
            from eqlwatch.pipeline.query_docs import UNSAFE_NUMBERS, partial_decoder
            from eqlwatch.pipeline.query_lines import conjoined_screens, kept_lines

            screens = conjoined_screens(compiled, input_sample(files, fmt))

            scan = NdjsonScan(Screen([screens]), Candidates([None]), ScanCounts(), ids=False)
            # one Hyperscan call per block, if it can; which also tells blocks where a
            # number may read differently in msgspec (see `query_docs`)
            scan.spans = kept_lines([screens], guard=UNSAFE_NUMBERS)
            s = compiled.settings
            known = {s.timestamp_field, s.event_category_field, s.tiebreaker_field or ""}
            scan.partial = partial_decoder(compiled.info.fields | known)
            self.scan = scan  # ids for the hits only: `run_query` names them
        if active and raw_needles(compiled) is not None:
            from eqlwatch.pipeline.hunt_raw import RawScreen
            from eqlwatch.pipeline.hunt_scan import ScanCounts

            self.raw = RawScreen([raw_needles(compiled)], ScanCounts())

    def ndjson(self, path: Path, counter: ErrorCounter) -> Iterator[SourceEvent]:
        if self.scan is not None:
            from eqlwatch.pipeline.hunt_scan import open_lines

            stream = open_lines(path)
            with stream:
                if not stream.peek(64).lstrip().startswith(b"["):
                    self.scan.on_error = counter.add
                    yield from self.scan.stream_blocks(stream, path, index_name(path))
                    return
        events, _ = read_event_file(path, errors=counter)
        yield from events


def run_query(
    query: str,
    events: list[Path],
    mappings: list[Path],
    options: dict[str, Any],
    input_format: str = "auto",
) -> tuple[dict[str, Any], list[Hit], ErrorCounter]:
    """Compile, read every file once, and answer like Elasticsearch."""
    started = time.monotonic()
    compiled = compile_query(query, schema=_schema(events, mappings), **options)
    counter = ErrorCounter(on_error=_report)
    files = event_files(events)
    # Screening pays over many lines; small inputs skip its imports (start-up).
    big = sum(p.stat().st_size for p in files) >= SCREEN_MIN_BYTES
    screen = QueryScreen(compiled, big and not mappings, files, input_format)
    hits = compiled.run(
        _read(files, input_format, counter, screen),
        again=_again(files, input_format, counter, screen),
    )
    took = int((time.monotonic() - started) * 1000)  # naming is part of writing (`AnswerItems`)
    response = {
        "is_partial": False,
        "is_running": False,
        "took": took,
        "timed_out": False,
        "hits": hits_body(hits, compiled.info.kind),
    }
    return response, hits, counter


def register(app: typer.Typer) -> None:
    @app.command("query")
    def query_command(
        query: Annotated[
            str, typer.Argument(help="EQL query, in Elasticsearch syntax.", metavar="QUERY")
        ],
        events: Annotated[
            list[Path],
            typer.Option(
                "--events",
                metavar="PATH",
                help="Event file, folder or glob (repeatable): ECS NDJSON/JSON, EVTX, "
                "raw Windows JSON/XML, .gz ok.",
            ),
        ],
        input_format: Annotated[
            str,
            typer.Option(
                "--input-format", metavar="FORMAT", help=f"One of: {', '.join(INPUT_FORMATS)}."
            ),
        ] = "auto",
        mapping: Annotated[
            list[Path] | None,
            typer.Option(
                "--mapping",
                metavar="FILE",
                help="Elasticsearch mapping (JSON): once for all files, or once per --events.",
            ),
        ] = None,
        size: Annotated[
            int, typer.Option("--size", metavar="N", help="Maximum number of hits.")
        ] = 10,
        timestamp_field: Annotated[
            str, typer.Option("--timestamp-field", metavar="FIELD")
        ] = "@timestamp",
        tiebreaker_field: Annotated[
            str | None, typer.Option("--tiebreaker-field", metavar="FIELD")
        ] = None,
        event_category_field: Annotated[
            str, typer.Option("--event-category-field", metavar="FIELD")
        ] = "event.category",
        max_samples_per_key: Annotated[int, typer.Option("--max-samples-per-key", metavar="N")] = 1,
        output: Annotated[
            str, typer.Option("--format", metavar="json|table", help="Output.")
        ] = "json",
    ) -> None:
        """Run an EQL query over event files with the embedded engine."""
        if output not in ("json", "table"):
            raise typer.BadParameter("must be json or table", param_hint="--format")
        if input_format not in INPUT_FORMATS:
            raise typer.BadParameter(
                f"expected one of {', '.join(INPUT_FORMATS)}", param_hint="--input-format"
            )
        options = {
            "size": size,
            "timestamp_field": timestamp_field,
            "tiebreaker_field": tiebreaker_field,
            "event_category_field": event_category_field,
            "max_samples_per_key": max_samples_per_key,
        }
        with _no_collection():
            try:
                response, hits, counter = run_query(
                    query, events, mapping or [], options, input_format
                )
            except QueryError as exc:
                typer.echo(f"query error: {exc}", err=True)
                raise typer.Exit(2) from None
            except EqlwatchError as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(2) from None
            _write(response, hits, output)
        if counter.count:
            typer.echo(f"{counter.count} malformed line(s) skipped", err=True)


@contextmanager
def _no_collection() -> Iterator[None]:
    """No cyclic GC while the command reads, matches and writes (the engine makes no
    cycles, and full passes over every event held cost more than matching). What it made
    is then frozen: re-enabling the collector would otherwise walk it all once more
    before the process exits."""
    with gc_paused():
        try:
            yield
        finally:
            gc.freeze()


def _write(response: dict[str, Any], hits: list[Hit], output: str) -> None:
    if output == "json":
        out = typer.get_binary_stream("stdout")
        write_answer(out, response)  # orjson's indented bytes, hit by hit
        out.flush()
    else:
        typer.echo(_table(named(hits)))
