"""The yardstick for whole-process `eqlwatch query`: eql's PythonEngine as a command.

Reads an NDJSON file with orjson (as eqlwatch does), streams every event through eql's
PythonEngine and prints the hits as JSON, one process from start to exit, the way a user
would run a query with the `eql` package. Timed from outside with `bench/wall.py`:

    uv run python bench/wall.py -n 5 --vs ".venv/bin/python bench/eql_query.py filter FILE" \\
        -- .venv/bin/eqlwatch query "$(.venv/bin/python bench/eql_query.py --show filter)" \\
        --events FILE --size 100000
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

QUERIES = {
    "filter": (
        'process where event.action == "start" and '
        'process.name : ("powershell.exe", "cmd.exe", "rundll32.exe") and '
        'process.command_line : "*whoami*"'
    ),
    "sequence": (
        "sequence by host.id, process.entity_id with maxspan=30s "
        '[process where event.action == "start" and '
        'process.name : ("powershell.exe", "cmd.exe", "rundll32.exe", "regsvr32.exe")] '
        '[network where event.action == "connection_attempted" and '
        'not cidrMatch(destination.ip, "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]'
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("query", choices=sorted(QUERIES))
    parser.add_argument("file", type=Path, nargs="?")
    parser.add_argument("--show", action="store_true", help="print the query text and exit")
    args = parser.parse_args()
    if args.show:
        print(QUERIES[args.query])
        return
    import eql

    from eqlwatch.engine.values import parse_iso

    with eql.parser.elasticsearch_syntax, eql.parser.ignore_missing_functions:
        parsed = eql.parse_query(QUERIES[args.query])
    engine = eql.PythonEngine()
    found: list[Any] = []
    engine.add_output_hook(found.append)
    engine.add_query(parsed)
    loads, event = orjson.loads, eql.Event
    with args.file.open("rb") as f:
        for line in f:
            doc = loads(line)
            ns = parse_iso(doc["@timestamp"]) or 0
            engine.stream_event(event(doc["event"]["category"][0], ns // 100, doc))
    engine.finalize()
    hits = [[e.data for e in hit.events] for hit in found]
    sys.stdout.buffer.write(orjson.dumps({"total": len(hits), "hits": hits}) + b"\n")


if __name__ == "__main__":
    main()
