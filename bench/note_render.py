"""Note rendering alone: `template.render(context)` per template, µs per note.

Contexts are built beforehand from `alert_pipeline.make_hit`'s hits (enrichment, facts,
alert view, sections), as `NoteRenderer.render` builds them; the timed loop renders only.
The cyclic GC is off in the timed loop; times are CPU time of this process, best of
`--repeat`. `--env reference` renders with jinja's own immutable sandbox (same options and
helpers, no fast paths) for comparison; every note is checked to be identical to its
reference text before timing. `--bounded` renders as `NoteRenderer` does, under the render
limits (watchdog deadline, output streamed through `generate()` and counted), to see what
the limits cost.

    uv run python bench/note_render.py [--hits 2000] [--repeat 5] [--env note|reference]
        [--bounded]
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, Template

sys.path.insert(0, str(Path(__file__).resolve().parent))

from alert_pipeline import make_hit
from eqlwatch.enrich import Enricher, load_ip_table
from eqlwatch.hitfacts import facts_of, present_sources
from eqlwatch.model import Hit
from eqlwatch.notes.check import synthetic_rule
from eqlwatch.notes.env import PACKAGED_TEMPLATES, make_environment, reference_environment
from eqlwatch.notes.limits import RenderLimits, collect, guarded
from eqlwatch.notes.render import alert_view, note_context
from eqlwatch.notes.sections import rule_sections

ROOT = Path(__file__).resolve().parents[1]


def contexts(name: str, hits: list[Hit]) -> list[dict[str, Any]]:
    """What `NoteRenderer.render` hands the template, for each hit."""
    rule = synthetic_rule(name)
    sections = rule_sections(rule)
    enricher = Enricher(load_ip_table())
    detected = datetime(2025, 6, 1, 11, tzinfo=UTC).isoformat()
    out = []
    for i, hit in enumerate(hits):
        sources = present_sources(hit)
        enrichment, plain = enricher.scan(sources)
        facts = facts_of(sources, plain)
        view = alert_view(
            f"a{i}",
            rule,
            hit,
            job_id="bench",
            detected_at=detected,
            timestamp_field="@timestamp",
            facts=facts,
        )
        out.append(note_context(rule, hit, enrichment, view, sections, facts))
    return out


def bounded(template: Template) -> Callable[[dict[str, Any]], str]:
    """`template.render` the way `NoteRenderer` calls it: under the deadline, streamed."""
    limits = RenderLimits()
    name = template.name or "?"

    def render(ctx: dict[str, Any]) -> str:
        return guarded(limits, name, lambda: collect(template.generate(ctx), limits, name))

    return render


def time_renders(
    template: Template, ctxs: list[dict[str, Any]], repeat: int, *, limited: bool = False
) -> float:
    """Best CPU seconds of `repeat` passes rendering every context once."""
    best = float("inf")
    gc.disable()
    try:
        for _ in range(repeat):
            render = bounded(template) if limited else template.render
            start = time.process_time()
            for ctx in ctxs:
                render(ctx)
            best = min(best, time.process_time() - start)
    finally:
        gc.enable()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hits", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5, help="runs; the fastest is reported")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--env", choices=("note", "reference"), default="note")
    parser.add_argument("--templates", type=Path, default=ROOT / "templates", help="folder")
    parser.add_argument("--only", action="append", default=[], help="template name(s)")
    parser.add_argument("--bounded", action="store_true", help="render under the limits")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    hits = [make_hit(i, rng) for i in range(args.hits)]
    folders = (args.templates, PACKAGED_TEMPLATES)  # the packaged default note too
    names = args.only or sorted(
        {p.name for d in folders for p in d.glob("*.md.j2") if not p.name.startswith("_")}
    )
    env: Environment = (
        make_environment(args.templates)
        if args.env == "note"
        else reference_environment(args.templates)
    )
    reference = reference_environment(args.templates)
    print(f"env: {args.env}  bounded: {args.bounded}  hits: {args.hits}  best of {args.repeat}")
    for name in names:
        ctxs = contexts(name, hits)
        template, expected = env.get_template(name), reference.get_template(name)
        for ctx in ctxs:
            assert template.render(ctx) == expected.render(ctx), name
        spent = time_renders(template, ctxs, args.repeat, limited=args.bounded)
        print(f"  {name:<48} {spent / len(ctxs) * 1e6:7.1f} µs/note")


if __name__ == "__main__":
    main()
