"""eqlwatch's engine vs eql's PythonEngine on the same generated ECS events.

Each measurement runs in its own process (so peak memory is its own) and streams the file
once: JSON parsing (orjson, the same for both engines) is included, and a parse-only pass
is measured too so the engine's own cost can be read off. Run by hand, never in CI:

    uv run python bench/gen_ecs.py --events 1000000 --out /tmp/ecs-1m.ndjson
    uv run python bench/engine_bench.py --file /tmp/ecs-1m.ndjson
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
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


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as f:
        for line in f:
            yield orjson.loads(line)


def run_parse(path: Path, _query: str) -> int:
    return sum(1 for _ in _lines(path))


def run_eqlwatch(path: Path, query: str, prefilter: bool = False) -> int:
    from eqlwatch.engine import compile_query
    from eqlwatch.engine.reader import read_event_file

    compiled = compile_query(query, size=None)
    executor = compiled.executor()
    keep = compiled.line_filter(path.stem) if prefilter else None
    events, _ = read_event_file(path, line_filter=keep)
    executor.feed(events)
    return len(executor.finish())


def run_eqlwatch_prefilter(path: Path, query: str) -> int:
    return run_eqlwatch(path, query, prefilter=True)


def run_eql(path: Path, query: str) -> int:
    import eql

    with eql.parser.elasticsearch_syntax, eql.parser.ignore_missing_functions:
        parsed = eql.parse_query(query)
    engine = eql.PythonEngine()
    found: list[Any] = []
    engine.add_output_hook(found.append)
    engine.add_query(parsed)
    from eqlwatch.engine.values import parse_iso

    for doc in _lines(path):
        ns = parse_iso(doc["@timestamp"]) or 0
        engine.stream_event(eql.Event(doc["event"]["category"][0], ns // 100, doc))
    engine.finalize()
    return len(found)


def run_eql_gc_off(path: Path, query: str) -> int:
    """eql with the cyclic GC paused, as eqlwatch's executor does while it streams."""
    import gc

    gc.disable()
    return run_eql(path, query)


RUNNERS: dict[str, Callable[[Path, str], int]] = {
    "parse": run_parse,
    "eqlwatch": run_eqlwatch,
    "eqlwatch+prefilter": run_eqlwatch_prefilter,
    "eql": run_eql,
    "eql-gc-off": run_eql_gc_off,
}


def measure(runner: str, path: Path, query: str) -> dict[str, Any]:
    started = time.perf_counter()
    hits = RUNNERS[runner](path, query)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"hits": hits, "seconds": seconds, "peak_mb": peak_mb}


def _child(runner: str, path: Path, query: str) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--file", str(path), "--child", runner, "--query", query]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--file", type=Path, required=True)
    parser.add_argument("--child", choices=sorted(RUNNERS))
    parser.add_argument("--query", default="filter")
    parser.add_argument("--engines", default="parse,eqlwatch,eqlwatch+prefilter,eql")
    parser.add_argument("--repeat", type=int, default=1, help="best of N runs")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.file, QUERIES[args.query])))
        return
    count = sum(1 for _ in args.file.open("rb"))
    print(f"{count} events from {args.file}")
    for name in QUERIES:
        for runner in args.engines.split(","):
            runs = [_child(runner, args.file, name) for _ in range(args.repeat)]
            r = min(runs, key=lambda x: x["seconds"])
            rate = count / r["seconds"]
            print(
                f"{name:9s} {runner:19s} {r['seconds']:8.2f} s {rate:10.0f} ev/s "
                f"peak {r['peak_mb']:6.0f} MB  hits {r['hits']}"
            )


if __name__ == "__main__":
    main()
