"""eqlwatch's engine vs eql's PythonEngine on the same generated ECS events.

Two measurements, each runner in its own process (so peak memory is its own):

* `stream`: read the NDJSON file once, parse each line with orjson, evaluate. This is the
  whole job; parsing costs the same for both engines (the `parse` runner shows how much).
* `engine`: the first `--engine-events` events are parsed into memory first (not timed),
  then only evaluation is timed. eql gets its `Event` objects (category and time already
  extracted) prepared outside the timing too, so this favours eql slightly.

Run by hand, never in CI:

    uv run python bench/gen_ecs.py --events 1000000 --out /tmp/ecs-1m.ndjson
    uv run python bench/engine_bench.py --file /tmp/ecs-1m.ndjson --repeat 3
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from itertools import islice
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
Result = tuple[int, float, float]  # hits, timed wall seconds, timed CPU seconds


class _Timer:
    """Wall and CPU time since creation (CPU is steadier on shared cores)."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def done(self, hits: int) -> Result:
        return hits, time.perf_counter() - self.wall, time.process_time() - self.cpu


def _docs(path: Path, limit: int | None = None) -> Iterator[dict[str, Any]]:
    with path.open("rb") as f:
        for line in islice(f, limit):
            yield orjson.loads(line)


def _eql_engine(query: str) -> tuple[Any, list[Any]]:
    import eql

    with eql.parser.elasticsearch_syntax, eql.parser.ignore_missing_functions:
        parsed = eql.parse_query(query)
    engine = eql.PythonEngine()
    found: list[Any] = []
    engine.add_output_hook(found.append)
    engine.add_query(parsed)
    return engine, found


def _eql_event(doc: dict[str, Any]) -> Any:
    import eql

    from eqlwatch.engine.values import parse_iso

    ns = parse_iso(doc["@timestamp"]) or 0
    return eql.Event(doc["event"]["category"][0], ns // 100, doc)


def stream_parse(path: Path, _query: str, _limit: int) -> Result:
    started = _Timer()
    count = sum(1 for _ in _docs(path))
    return started.done(count)


def stream_eqlwatch(path: Path, query: str, _limit: int, prefilter: bool = False) -> Result:
    started = _Timer()
    from eqlwatch.engine import compile_query
    from eqlwatch.engine.reader import read_event_file

    compiled = compile_query(query, size=None)
    executor = compiled.executor()
    keep = compiled.line_filter(path.stem) if prefilter else None
    events, _ = read_event_file(path, line_filter=keep)
    executor.feed(events)
    return started.done(len(executor.finish()))


def stream_eqlwatch_prefilter(path: Path, query: str, limit: int) -> Result:
    return stream_eqlwatch(path, query, limit, prefilter=True)


def stream_eqlwatch_gc_off(path: Path, query: str, limit: int) -> Result:
    """eqlwatch with the cyclic GC off for the whole run, the same setting as eql-gc-off:
    the collection that follows `feed` (all held hits are young then) is never paid."""
    gc.disable()
    return stream_eqlwatch(path, query, limit)


def stream_eql(path: Path, query: str, _limit: int) -> Result:
    started = _Timer()
    engine, found = _eql_engine(query)
    for doc in _docs(path):
        engine.stream_event(_eql_event(doc))
    engine.finalize()
    return started.done(len(found))


def stream_eql_gc_off(path: Path, query: str, limit: int) -> Result:
    """eql with the cyclic GC paused, as eqlwatch's executor does while it streams."""
    gc.disable()
    return stream_eql(path, query, limit)


def engine_eqlwatch(path: Path, query: str, limit: int) -> Result:
    from eqlwatch.engine import SourceEvent, compile_query

    events = [SourceEvent("ecs", str(n), d) for n, d in enumerate(_docs(path, limit), 1)]
    compiled = compile_query(query, size=None)
    started = _Timer()
    executor = compiled.executor()
    executor.feed(events)
    hits = len(executor.finish())
    return started.done(hits)


def engine_eql(path: Path, query: str, limit: int) -> Result:
    events = [_eql_event(d) for d in _docs(path, limit)]
    engine, found = _eql_engine(query)
    started = _Timer()
    for event in events:
        engine.stream_event(event)
    engine.finalize()
    return started.done(len(found))


RUNNERS: dict[str, Callable[[Path, str, int], Result]] = {
    "stream:parse": stream_parse,
    "stream:eqlwatch": stream_eqlwatch,
    "stream:eqlwatch+prefilter": stream_eqlwatch_prefilter,
    "stream:eqlwatch-gc-off": stream_eqlwatch_gc_off,
    "stream:eql": stream_eql,
    "stream:eql-gc-off": stream_eql_gc_off,
    "engine:eqlwatch": engine_eqlwatch,
    "engine:eql": engine_eql,
}
DEFAULT = "stream:parse,stream:eqlwatch,stream:eql,engine:eqlwatch,engine:eql"


def measure(runner: str, path: Path, query: str, limit: int) -> dict[str, Any]:
    hits, seconds, cpu = RUNNERS[runner](path, query, limit)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"hits": hits, "seconds": seconds, "cpu": cpu, "peak_mb": peak_mb}


def _child(runner: str, path: Path, query: str, limit: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--file", str(path), "--child", runner]
    cmd += ["--query", query, "--engine-events", str(limit)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--file", type=Path, required=True)
    parser.add_argument("--child", choices=sorted(RUNNERS))
    parser.add_argument("--query", default="filter", choices=sorted(QUERIES))
    parser.add_argument("--runners", default=DEFAULT)
    parser.add_argument("--engine-events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=1, help="best of N rounds")
    args = parser.parse_args()
    if args.child:
        result = measure(args.child, args.file, QUERIES[args.query], args.engine_events)
        print(json.dumps(result))
        return
    total = sum(1 for _ in args.file.open("rb"))
    print(f"{total} events in {args.file}; engine-only runs use the first {args.engine_events}")
    runners = args.runners.split(",")
    for name in QUERIES:
        # rounds over all runners, so that every runner sees the same spells of load
        runs: dict[str, list[dict[str, Any]]] = {r: [] for r in runners}
        for _ in range(args.repeat):
            for runner in runners:
                runs[runner].append(_child(runner, args.file, name, args.engine_events))
        for runner in runners:
            r = min(runs[runner], key=lambda x: x["seconds"])
            count = total if runner.startswith("stream") else min(total, args.engine_events)
            cpu = min(x["cpu"] for x in runs[runner])
            print(
                f"{name:9s} {runner:26s} {r['seconds']:7.2f} s {count / r['seconds']:9.0f} ev/s"
                f"  cpu {cpu:6.2f} s  peak {r['peak_mb']:5.0f} MB  hits {r['hits']}",
                flush=True,
            )


if __name__ == "__main__":
    main()
