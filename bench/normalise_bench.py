"""The Sysmon/Windows → ECS normaliser alone: records per CPU second, and a digest of its output.

Every record is parsed first (outside the timing); then `to_ecs(record, shape)` runs over all
of them, best of `--repeat`. The digest is the sha256 of every ECS document serialised with
orjson in its own key order: two trees whose digests agree wrote byte-identical documents,
key order included. Compare two trees side by side in one run with `PYTHONPATH`:

    git archive main src | tar -x -C /tmp/n3-before
    PYTHONPATH=/tmp/n3-before/src uv run python bench/normalise_bench.py --repeat 5
    uv run python bench/normalise_bench.py --repeat 5
    uv run python bench/normalise_bench.py --nxlog /tmp/raw-nxlog.json --lines 20000 --split

Corpora: evtx-rs JSON (`Event` per line) of the shipped EVTX-ATTACK-SAMPLES exports (the
same records as `../shared/datasets/evtx-attack-samples/ndjson`), the bare EventData array of
`../shared/datasets/eqllib-atomic` when present,
and NXLog JSON lines (`bench/gen_raw.py`) when `--nxlog` is given.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gzip
import hashlib
import json
import pstats
import time
from pathlib import Path
from typing import Any

import orjson

from eqlwatch.errors import DataError
from eqlwatch.sysmon import normalize_record, to_ecs, to_record

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "tests/data/evtx-attack-samples/ndjson"
SHARED = ROOT.parent / "shared/datasets"


def ndjson_records(folder: Path) -> list[Any]:
    out: list[Any] = []
    for path in sorted(folder.rglob("*.ndjson*")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as fh:
            out.extend(orjson.loads(line) for line in fh if line.strip())
    return out


def corpora(nxlog: Path | None, lines: int) -> dict[str, tuple[str, list[Any]]]:
    """name → (shape, parsed records)."""
    out: dict[str, tuple[str, list[Any]]] = {"shipped": ("evtx-json", ndjson_records(SHIPPED))}
    eqllib = SHARED / "eqllib-atomic/sysmon-atomic-red-team.json.gz"
    if eqllib.is_file():
        with gzip.open(eqllib, "rt", encoding="utf-8-sig") as fh:
            out["eqllib"] = ("eventdata-array", json.load(fh))
    if nxlog is not None:
        with nxlog.open("rb") as fh:
            recs = [orjson.loads(line) for _, line in zip(range(lines), fh, strict=False)]
        out["nxlog"] = ("nxlog", recs)
    return out


def normalise_all(shape: str, records: list[Any]) -> list[dict[str, Any] | str]:
    out: list[dict[str, Any] | str] = []
    for raw in records:
        try:
            out.append(to_ecs(raw, shape))
        except DataError as err:
            out.append(f"error: {err}")
    return out


def digest(docs: list[dict[str, Any] | str]) -> str:
    h = hashlib.sha256()
    for doc in docs:
        h.update(orjson.dumps(doc))
        h.update(b"\n")
    return h.hexdigest()[:16]


def stream(shape: str, records: list[Any]) -> None:
    """Each document dropped once made, as the readers hand them on: keeping them all would
    time the garbage collector walking them (about as long again as the mapping)."""
    for raw in records:
        with contextlib.suppress(DataError):
            to_ecs(raw, shape)


def timed(shape: str, records: list[Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        stream(shape, records)
        best = min(best, time.process_time() - start)
    return best


def split(shape: str, records: list[Any], repeat: int) -> tuple[float, float]:
    """CPU seconds of `to_record` over the records and of `normalize_record` over what it
    made, each best of `repeat` (records that are no Windows event left out of both)."""
    made = []
    for raw in records:
        with contextlib.suppress(DataError):
            made.append(to_record(raw, shape))
    kept = [raw for raw in records if _readable(raw, shape)]
    to_rec = norm = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for raw in kept:
            to_record(raw, shape)
        to_rec = min(to_rec, time.process_time() - start)
        start = time.process_time()
        for rec in made:
            normalize_record(rec)
        norm = min(norm, time.process_time() - start)
    return to_rec, norm


def _readable(raw: Any, shape: str) -> bool:
    try:
        to_record(raw, shape)
    except DataError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--nxlog", type=Path, help="NXLog JSON lines (bench/gen_raw.py)")
    parser.add_argument("--lines", type=int, default=20000, help="lines of --nxlog to use")
    parser.add_argument("--profile", action="store_true", help="cProfile one pass of each")
    parser.add_argument(
        "--split", action="store_true", help="also `to_record` and `normalize_record` apart"
    )
    args = parser.parse_args()
    for name, (shape, records) in corpora(args.nxlog, args.lines).items():
        docs = normalise_all(shape, records)  # warm: caches, the public suffix list
        if args.profile:
            prof = cProfile.Profile()
            prof.runcall(stream, shape, records)
            pstats.Stats(prof).sort_stats("tottime").print_stats(18)
            continue
        best = timed(shape, records, args.repeat)
        n = len(records)
        print(
            f"{name:8} {shape:16} {n:7,} records  {n / best:10,.0f} rec/CPU s  "
            f"{best / n * 1e6:6.1f} us/rec  digest {digest(docs)}"
        )
        if args.split:
            to_rec, norm = split(shape, records, args.repeat)
            print(
                f"{'':8} to_record {to_rec / n * 1e6:6.1f} us/rec, then normalize_record "
                f"{norm / n * 1e6:6.1f} us/rec"
            )


if __name__ == "__main__":
    main()
