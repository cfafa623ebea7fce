"""`eqlwatch query 'QUERY' --events PATH ...`: run EQL over exported files, no cluster.

Prints an Elasticsearch EQL search response (`{"is_partial": false, ..., "hits": {...}}`)
whose `hits` is what Elasticsearch returns: `total`, then `events` or `sequences` (samples
come back as sequences, as in Elasticsearch). Malformed lines are reported on stderr as
`file:line: message` and skipped; their count is printed at the end.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from eqlwatch.engine import FieldSchema, Hit, compile_query, load_mapping
from eqlwatch.engine.reader import ErrorCounter, index_name, read_event_file
from eqlwatch.errors import DataError, EqlwatchError, QueryError


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


def run_query(
    query: str,
    events: list[Path],
    mappings: list[Path],
    options: dict[str, Any],
) -> tuple[dict[str, Any], list[Hit], ErrorCounter]:
    """Compile, read every file once, and answer like Elasticsearch."""
    started = time.monotonic()
    compiled = compile_query(query, schema=_schema(events, mappings), **options)
    counter = ErrorCounter(on_error=_report)
    # No line prefilter here: every malformed line must be reported, so every line is parsed.
    streams: list[Iterator[Any]] = [read_event_file(p, errors=counter)[0] for p in events]
    hits = compiled.run(itertools.chain.from_iterable(streams))
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
        query: Annotated[str, typer.Argument(help="EQL query, in Elasticsearch syntax.")],
        events: Annotated[list[Path], typer.Option("--events", help="NDJSON/JSON array, .gz ok.")],
        mapping: Annotated[list[Path] | None, typer.Option("--mapping", help="ES mapping.")] = None,
        size: Annotated[int, typer.Option("--size", help="Maximum number of hits.")] = 10,
        timestamp_field: Annotated[str, typer.Option("--timestamp-field")] = "@timestamp",
        tiebreaker_field: Annotated[str | None, typer.Option("--tiebreaker-field")] = None,
        event_category_field: Annotated[
            str, typer.Option("--event-category-field")
        ] = "event.category",
        max_samples_per_key: Annotated[int, typer.Option("--max-samples-per-key")] = 1,
        output: Annotated[str, typer.Option("--format", help="json or table.")] = "json",
    ) -> None:
        """Run an EQL query over event files with the embedded engine."""
        if output not in ("json", "table"):
            raise typer.BadParameter("must be json or table", param_hint="--format")
        options = {
            "size": size,
            "timestamp_field": timestamp_field,
            "tiebreaker_field": tiebreaker_field,
            "event_category_field": event_category_field,
            "max_samples_per_key": max_samples_per_key,
        }
        try:
            response, hits, counter = run_query(query, events, mapping or [], options)
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
