"""`eqlwatch query 'QUERY' --events PATH ...`: run EQL over event files, no cluster.

Reads what `hunt` reads, detected per file the same way: ECS NDJSON/JSON (gzipped or not),
EVTX and the raw Windows/Sysmon export formats, folders (recursively) and glob patterns.
Prints an Elasticsearch EQL search response (`{"is_partial": false, ..., "hits": {...}}`)
whose `hits` is what Elasticsearch returns: `total`, then `events` or `sequences` (samples
come back as sequences, as in Elasticsearch). Malformed records are reported on stderr as
`file:line: message` and skipped; their count is printed at the end.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from eqlwatch.backends.event_files import expand_paths, read_events
from eqlwatch.engine import FieldSchema, Hit, SourceEvent, compile_query, load_mapping
from eqlwatch.engine.reader import ErrorCounter, index_name
from eqlwatch.errors import DataError, EqlwatchError, Location, QueryError
from eqlwatch.sysmon import INPUT_FORMATS, detect_format


def hits_body(hits: list[Hit], kind: str) -> dict[str, Any]:
    """The `hits` object of an Elasticsearch EQL response."""
    body: dict[str, Any] = {"total": {"value": len(hits), "relation": "eq"}}
    if kind == "event":
        body["events"] = [h.events[0].to_es() for h in hits]
    else:
        body["sequences"] = [
            {"join_keys": list(h.join_keys), "events": [e.to_es() for e in h.events]} for h in hits
        ]
    return body


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
            text = "(missing)" if e.missing else orjson.dumps(dict(e.source)).decode()[:120]
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


def _read(files: list[Path], input_format: str, counter: ErrorCounter) -> Iterator[SourceEvent]:
    """Each file in its format, told as `hunt` tells it; a file that is no Windows export
    is read as JSON documents (what Elasticsearch would index), every bad line reported."""
    for path in files:
        fmt = input_format
        if fmt == "auto":
            try:
                fmt = detect_format(path)
            except DataError:
                fmt = "ecs"
        yield from read_events([path], input_format=fmt, on_error=counter.add)


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
    # No line prefilter here: every malformed line must be reported, so every line is parsed.
    hits = compiled.run(_read(event_files(events), input_format, counter))
    took = int((time.monotonic() - started) * 1000)
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
        try:
            response, hits, counter = run_query(query, events, mapping or [], options, input_format)
        except QueryError as exc:
            typer.echo(f"query error: {exc}", err=True)
            raise typer.Exit(2) from None
        except EqlwatchError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        if output == "json":
            typer.echo(orjson.dumps(response, option=orjson.OPT_INDENT_2).decode())
        else:
            typer.echo(_table(hits))
        if counter.count:
            typer.echo(f"{counter.count} malformed line(s) skipped", err=True)
