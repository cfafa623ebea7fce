"""`eqlwatch query` streams a sequence over a file in time order and reads a file out of
order a second time: the same hits either way, every malformed line told once."""

from __future__ import annotations

import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from eqlwatch.cli.query import SCREEN_MIN_BYTES
from eqlwatch.engine.identity import record_id

QUERY = (
    "sequence by host.id with maxspan=5s "
    '[process where process.name : "cmd.exe"] [network where destination.port == 443]'
)
BASE = datetime(2026, 3, 1, tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _docs(n: int) -> list[dict[str, Any]]:
    rng = random.Random(7)
    docs = []
    for i in range(n):
        network = i % 2 == 1
        doc: dict[str, Any] = {
            "@timestamp": _iso(BASE + timedelta(milliseconds=700 * i + 1)),
            "event": {"category": ["network" if network else "process"]},
            "host": {"id": f"h{rng.randrange(12)}"},
            "message": "x" * 300,  # lines long enough for the line screen to apply
        }
        if network:
            doc["destination"] = {"port": rng.choice([443, 80])}
        else:
            doc["process"] = {"name": rng.choice(["cmd.exe", "CMD.EXE", "explorer.exe"])}
        docs.append(doc)
    return docs


def _query(path: Path) -> tuple[dict[str, Any], list[str]]:
    argv = [sys.executable, "-m", "eqlwatch", "query", QUERY, "--events", str(path)]
    done = subprocess.run(
        [*argv, "--size", "100000"],
        capture_output=True,
        check=True,
    )
    body = orjson.loads(done.stdout)
    return body["hits"], done.stderr.decode().splitlines()


def _write(path: Path, lines: list[bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_out_of_order_file_answers_like_the_sorted_one_and_tells_each_error_once(
    tmp_path: Path,
) -> None:
    docs = _docs(4000)
    lines = [orjson.dumps(d) for d in docs]
    lines[10] = b'{"@timestamp": "broken'  # before the first line out of order
    lines[3000] = b"not json"  # after it
    ordered = _write(tmp_path / "a" / "events.ndjson", lines)
    assert ordered.stat().st_size >= SCREEN_MIN_BYTES  # the screened, block-reading path
    late = lines[:]
    moved = next(
        i for i in range(2600, 4000) if docs[i].get("process", {}).get("name") == "cmd.exe"
    )
    late.insert(moved - 100, late.pop(moved))  # a line the query reads, 70 s out of place
    shuffled = _write(tmp_path / "b" / "events.ndjson", late)

    expected, told = _query(ordered)
    found, told_again = _query(shuffled)
    assert expected["total"]["value"] > 50
    assert found == expected
    # named for the hits only, after matching: the content hash every reader gives
    ids = [(e["_id"], record_id(e["_source"])) for s in found["sequences"] for e in s["events"]]
    assert all(given == content for given, content in ids)
    for errors, path in ((told, ordered), (told_again, shuffled)):
        assert [e.split(": ")[0] for e in errors] == [
            f"{path}:11",
            f"{path}:3001",
            "2 malformed line(s) skipped",
        ]


def test_entirely_shuffled_file_answers_like_the_sorted_one(tmp_path: Path) -> None:
    lines = [orjson.dumps(d) for d in _docs(3200)]
    ordered = _write(tmp_path / "a" / "events.ndjson", lines)
    random.Random(1).shuffle(lines)
    shuffled = _write(tmp_path / "b" / "events.ndjson", lines)
    expected, _ = _query(ordered)
    found, errors = _query(shuffled)
    assert expected["total"]["value"] > 50
    assert found == expected
    assert errors == []
