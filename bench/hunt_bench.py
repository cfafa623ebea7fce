"""`eqlwatch hunt` throughput against orjson alone, on the same NDJSON file, in one process.

(a) orjson: read every line of the file and `orjson.loads` it;
(b) hunt: the hunt core over the same file with the whole rule pack (read, screen, match,
    build the alerts for the hits, serialise them as `hunt --format ndjson` does);
(c) optionally (`--plain`) the straightforward path: every rule over every parsed event.

Rates are events per CPU second of this process (best of `--repeat`), so busy neighbours on
a shared machine disturb them less; wall seconds are printed too. The issue's target is
hunt / orjson >= 0.5.

The default input is the demo generator's day of four Windows hosts (Elastic Defend and
Sysmon-in-ECS shapes, library loads, benign regsvr32/regasm lookalikes, ~1.1 kB per event)
scaled up: consecutive 6-hour chunks, each with its own seed and planted attacks, merged
in timestamp order. `--file` takes any other NDJSON file (e.g. one from `gen_ecs.py`).

    uv run python bench/hunt_bench.py --events 300000 --out /tmp/hunt-demo.ndjson
    uv run python bench/hunt_bench.py --file /tmp/hunt-demo.ndjson --repeat 3 --plain
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from eqlwatch.demo.generate import generate
from eqlwatch.enrich import load_ip_table
from eqlwatch.pipeline.alerting import AlertBuilder
from eqlwatch.pipeline.hunt import alert_line, build_alerts, hunt_files
from eqlwatch.rules import load_rules
from eqlwatch.rules.compiled import clear_caches

ROOT = Path(__file__).resolve().parents[1]
CHUNK_HOURS = 6.0
CHUNK_DENSITY = 4_000  # sessions per host per chunk: ~52,000 events
DETECTED_AT = datetime(2026, 1, 1, tzinfo=UTC)


def write_demo(path: Path, events: int) -> int:
    """At least `events` demo events in timestamp order; returns how many were written."""
    end = datetime(2025, 6, 1, tzinfo=UTC)
    written, seed = 0, 1
    with path.open("wb") as out:
        while written < events:
            end += timedelta(hours=CHUNK_HOURS)
            data = generate(end=end, hours=CHUNK_HOURS, seed=seed, density=CHUNK_DENSITY)
            docs = sorted(
                (d for docs in data.indices.values() for d in docs),
                key=lambda d: d["@timestamp"],
            )
            out.write(b"".join(orjson.dumps(d) + b"\n" for d in docs))
            written += len(docs)
            seed += 1
    return written


def run_orjson(path: Path) -> int:
    loads, n = orjson.loads, 0
    with path.open("rb") as f:
        for line in f:
            loads(line)
            n += 1
    return n


def run_hunt(path: Path, rules_dir: Path, templates: Path, *, screen: bool) -> int:
    clear_caches()  # every run loads and compiles the pack, as the CLI does
    rules = [r for r in load_rules([rules_dir]).rules if r.eqlwatch.enabled]
    result = hunt_files(rules, [path], screen=screen)
    started = time.process_time()
    builder = AlertBuilder(job_id="hunt", templates_dir=templates, ip_table=load_ip_table(None))
    lines = [alert_line(a) for a in build_alerts(result, builder, detected_at=DETECTED_AT)]
    alerting = time.process_time() - started
    run_hunt.last = (len(lines), result.counts, alerting)  # type: ignore[attr-defined]
    return result.counts.events


def best(fn: Callable[[], int], repeat: int) -> tuple[int, float, float]:
    """Events, best CPU seconds, wall seconds of that run."""
    runs = []
    for _ in range(repeat):
        gc.collect()
        c0, w0 = time.process_time(), time.perf_counter()
        n = fn()
        runs.append((time.process_time() - c0, time.perf_counter() - w0, n))
    cpu, wall, n = min(runs)
    return n, cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--file", type=Path, help="existing NDJSON file to measure")
    parser.add_argument("--out", type=Path, help="write the scaled demo data here first")
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--rules", type=Path, default=ROOT / "queries")
    parser.add_argument("--templates", type=Path, default=ROOT / "templates")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--plain", action="store_true", help="also the straightforward path")
    parser.add_argument(
        "--profile", type=int, metavar="N", help="then one hunt under cProfile: top N functions"
    )
    args = parser.parse_args()
    path = args.file
    if path is None:
        if args.out is None:
            parser.error("give --file, or --out to generate the demo data")
        print(f"wrote {write_demo(args.out, args.events)} events to {args.out}")
        path = args.out
    size = path.stat().st_size
    n, cpu, wall = best(lambda: run_orjson(path), args.repeat)
    base = n / cpu
    print(f"file {path}: {n} events, {size / n:.0f} bytes/event")
    print(f"orjson       {base:>10,.0f} events/s  (cpu {cpu:.2f} s, wall {wall:.2f} s)")
    modes = [("hunt", True)] + ([("hunt-plain", False)] if args.plain else [])
    for name, screen in modes:

        def one(screen: bool = screen) -> int:
            return run_hunt(path, args.rules, args.templates, screen=screen)

        n, cpu, wall = best(one, args.repeat)
        alerts, counts, alerting = run_hunt.last  # type: ignore[attr-defined]
        print(
            f"{name:<12} {n / cpu:>10,.0f} events/s  (cpu {cpu:.2f} s, wall {wall:.2f} s)"
            f"  ratio {n / cpu / base:.2f}  alerts {alerts} (cpu {alerting:.2f} s)"
            f"  parsed lines {counts.parsed}  malformed {counts.malformed}"
        )
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(run_hunt, path, args.rules, args.templates, screen=True)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile)


if __name__ == "__main__":
    main()
