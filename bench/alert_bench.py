"""What `hunt` spends on its alerts, per alert, over real hits (and their digests).

The hunt core runs once, untimed, with the rule pack over event files (default: the
`evtx_bench.py` input, the two largest shipped EVTX captures, `--rounds` copies in one
hunt); then `hunt`'s alert step is timed on its hits as `eqlwatch hunt --format ndjson`
runs it: a fresh `AlertBuilder` (which compiles each note template at its first alert),
`build_alerts`, one `alert_line` per alert. CPU seconds of this process, `--repeat` runs,
best and median; "warm" repeats the step with the builder of the previous run (templates
compiled), so it is the per-alert cost alone.

Every alert line is written with one fixed `detected_at`, so two trees (this one and
`PYTHONPATH=<other>/src`) must print the same sha256 over all lines; `--digests FILE`
writes one `sha256 rule_id` line per alert to compare alert by alert. `--phases` prints
where a warm alert's time goes, step by step (timers around each step of `AlertBuilder`'s
path; the steps are taken from this tree, so compare phases only within one tree).

    uv run python bench/alert_bench.py --rounds 100 --repeat 5
    uv run python bench/alert_bench.py tests/data/evtx-attack-samples --rounds 1 --repeat 0 \
        --digests /tmp/alerts.sha256 [--templates none]
    uv run python bench/alert_bench.py --phases
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from eqlwatch.enrich import load_ip_table
from eqlwatch.pipeline.alerting import AlertBuilder
from eqlwatch.pipeline.hunt import HuntResult, alert_line, build_alerts, hunt_files
from eqlwatch.rules import load_rules
from evtx_bench import copies  # this folder: scripts run as `python bench/...`

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "tests/data/evtx-attack-samples/evtx/AutomatedTestingTools"
DETECTED_AT = datetime(2026, 1, 1, tzinfo=UTC)


def round_copies(paths: list[Path], rounds: int, into: Path) -> list[Path]:
    """Every file under `paths` (no README), in `rounds` copies as `evtx_bench` makes them
    (one round is the files themselves)."""
    files = [f for p in paths for f in (sorted(p.rglob("*")) if p.is_dir() else [p])]
    files = [f for f in files if f.is_file() and f.suffix != ".md"]
    return files if rounds == 1 else copies(files, rounds, into)


TEMPLATES: list[Path | None] = [ROOT / "templates"]


def builder() -> AlertBuilder:
    """A builder as `hunt` makes one (templates: `--templates`, the pack's by default)."""
    return AlertBuilder(job_id="hunt", templates_dir=TEMPLATES[0], ip_table=load_ip_table(None))


def alert_step(result: HuntResult, made: AlertBuilder) -> list[tuple[str, bytes]]:
    """`hunt --format ndjson`'s alert step: every alert built and written as a line."""
    return [(a.rule_id, alert_line(a)) for a in build_alerts(result, made, detected_at=DETECTED_AT)]


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    runs = []
    for _ in range(repeat):
        gc.collect()
        start = time.process_time()
        fn()
        runs.append(time.process_time() - start)
    return runs


def phases(result: HuntResult, repeat: int) -> None:
    """A warm alert's time, step by step, as `AlertBuilder` takes them (this tree's steps)."""
    from eqlwatch.alerts import alert_id, build_alert
    from eqlwatch.grouping import group_of
    from eqlwatch.hitfacts import facts_of, present_sources
    from eqlwatch.notes.render import alert_view

    made = builder()
    alert_step(result, made)
    pairs = [(rule, hit) for rule, hits in result.hits for hit in hits]
    spent = dict.fromkeys(
        ("enrich", "facts", "id", "view", "note", "document", "group", "line"), 0.0
    )
    clock = time.perf_counter
    for _ in range(repeat):
        for rule, hit in pairs:
            t0 = clock()
            sources = present_sources(hit)
            enrichment, plain = made.enricher.scan(sources)
            t1 = clock()
            facts = facts_of(sources, plain, made.timestamp_field)
            t2 = clock()
            ident = alert_id(rule.rule_id, hit.events)
            t3 = clock()
            view = alert_view(
                ident, rule, hit, job_id=made.job_id, detected_at=DETECTED_AT.isoformat(),
                timestamp_field=made.timestamp_field, facts=facts,
            )  # fmt: skip
            t4 = clock()
            note = made.renderer.render(rule, hit, enrichment, alert=view, facts=facts)
            t5 = clock()
            alert = build_alert(
                rule, hit, enrichment, note.text, detected_at=DETECTED_AT, job_id=made.job_id,
                links=made.links, facts=facts, ident=ident, note_error=note.error,
            )  # fmt: skip
            t6 = clock()
            group_of(alert.document, made.group_span)
            t7 = clock()
            alert_line(alert)
            t8 = clock()
            stamps = (t0, t1, t2, t3, t4, t5, t6, t7, t8)
            for name, start, end in zip(spent, stamps, stamps[1:], strict=False):
                spent[name] += end - start
    count = repeat * len(pairs)
    for name, seconds in spent.items():
        print(f"  {name:<9} {seconds / count * 1e6:7.1f} us")
    print(
        f"  {'total':<9} {sum(spent.values()) / count * 1e6:7.1f} us  (wall clock, {count} alerts)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("paths", nargs="*", type=Path, default=[DEFAULT])
    parser.add_argument("--rules", type=Path, default=ROOT / "queries")
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--digests", type=Path, help="write `sha256 rule_id` per alert here")
    parser.add_argument(
        "--templates", default=str(ROOT / "templates"), help='a folder, or "none": the default note'
    )
    parser.add_argument("--phases", action="store_true", help="a warm alert's steps")
    args = parser.parse_args()
    TEMPLATES[0] = None if args.templates == "none" else Path(args.templates)
    rules = [r for r in load_rules([args.rules]).rules if r.eqlwatch.enabled]
    with tempfile.TemporaryDirectory() as tmp:
        files = round_copies(args.paths, args.rounds, Path(tmp))
        result = hunt_files(rules, files)
    if args.phases:
        phases(result, args.repeat)
        return
    lines = alert_step(result, builder())
    total = hashlib.sha256(b"".join(line for _, line in lines)).hexdigest()
    print(f"{result.counts.events} events, {len(lines)} alerts, sha256 of the lines {total}")
    if args.digests is not None:
        with args.digests.open("w") as out:
            for rule_id, line in lines:
                out.write(f"{hashlib.sha256(line).hexdigest()} {rule_id}\n")
    if args.repeat < 1:
        return
    cold = timed(lambda: alert_step(result, builder()), args.repeat)
    warm_builder = builder()
    alert_step(result, warm_builder)
    warm = timed(lambda: alert_step(result, warm_builder), args.repeat)
    n = max(len(lines), 1)
    for name, runs in (("alert step", cold), ("warm", warm)):
        print(
            f"{name:<10} cpu best {min(runs):.3f} s, median {statistics.median(runs):.3f} s"
            f"  ({statistics.median(runs) / n * 1e6:.0f} us an alert, median)"
        )


if __name__ == "__main__":
    main()
