"""`Enricher.scan` + `Enrichment.document()` per hit, on the alert-pipeline bench hits.

The hits are `alert_pipeline.make_hit`'s, with every event re-parsed by orjson so no two
events share objects (as when they come off the wire). Each run uses a fresh table, so the
classification cache starts empty, as in `alert_pipeline.py`. The cyclic GC is off in the
timed loops; times are CPU time of this process, best of `--repeat`.

    uv run python bench/enrich_scan.py [--hits 20000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from alert_pipeline import make_hit
from eqlwatch.enrich import Enricher, load_ip_table

Sources = list[list[Mapping[str, Any]]]


def _sources(count: int, seed: int) -> Sources:
    rng = random.Random(seed)
    hits = [make_hit(i, rng) for i in range(count)]
    return [[orjson.loads(orjson.dumps(e.source)) for e in hit.events] for hit in hits]


def _time(all_sources: Sources, with_document: bool) -> float:
    """CPU seconds for one pass over every hit with a fresh enricher (fresh caches)."""
    scan = Enricher(load_ip_table()).scan
    gc.disable()
    try:
        start = time.process_time()
        if with_document:
            for sources in all_sources:
                scan(sources)[0].document()
        else:
            for sources in all_sources:
                scan(sources)
        return time.process_time() - start
    finally:
        gc.enable()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hits", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5, help="runs; the fastest is reported")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    all_sources = _sources(args.hits, args.seed)
    gc.freeze()
    n = len(all_sources)
    for label, with_document in (("scan", False), ("scan + document()", True)):
        best = min(_time(all_sources, with_document) for _ in range(max(1, args.repeat)))
        print(f"{label:<18} {best / n * 1e6:6.2f} µs/hit  ({n} hits, best of {args.repeat})")


if __name__ == "__main__":
    main()
