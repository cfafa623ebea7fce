"""Hostile command lines through the real CLI: quick, and the right answer.

Each of these patterns took Python's `re` over 20 s on one 32,767-character value (issue 9;
`bench/match_bench.py` kills the old translation after its timeout). The bound below is the
CPU time of the whole `eqlwatch query` process, interpreter start included (wall time on a
shared two-core machine says more about the neighbours), so it cannot flake, while a
backtracking matcher would still blow through it many times over.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest

EQLWATCH = Path(sys.executable).with_name("eqlwatch")
LENGTH = 32_767
BOUND_S = 10.0


def _fill(unit: str, tail: str) -> str:
    body = unit * (LENGTH // len(unit) + 1)
    return body[: LENGTH - len(tail)] + tail


def _events(tmp_path: Path, lines: dict[str, str]) -> Path:
    path = tmp_path / "logs-endpoint.events.process-default.ndjson"
    with path.open("w") as out:
        for n, (name, command_line) in enumerate(lines.items()):
            doc = {
                "@timestamp": f"2026-01-01T00:00:0{n}Z",
                "event": {"category": "process"},
                "process": {"name": name, "command_line": command_line},
            }
            out.write(json.dumps(doc) + "\n")
    return path


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _names(query: str, events: Path) -> list[str]:
    start = _children_cpu()
    done = subprocess.run(
        [str(EQLWATCH), "query", query, "--events", str(events)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    cpu = _children_cpu() - start
    assert done.returncode == 0, done.stderr
    assert cpu < BOUND_S, f"{cpu:.1f} CPU seconds"
    hits = json.loads(done.stdout)["hits"]["events"]
    return [h["_source"]["process"]["name"] for h in hits]


APPDATA = "C:\\Users\\bob\\AppData\\Local\\Temp\\"


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ('process.command_line : "*\\\\AppData\\\\*\\\\*.exe"', ["hit"]),
        ('process.command_line like~ "*\\\\appdata\\\\*\\\\*.EXE"', ["hit"]),
        ('process.command_line like "*\\\\AppData\\\\*\\\\*.EXE"', []),
        (
            'process.command_line : ("*a*a*a*a*a*a*a*a*b", "*\\\\x\\\\evil.exe")',
            ["hit", "as-then-b"],
        ),
        ('process.command_line regex ".*(a+)+b"', ["as-then-b"]),
        ('process.command_line regex~ ".*(A+)+B"', ["as-then-b"]),
        ('process.command_line regex """.*\\\\AppData\\\\(.*\\\\)*.*\\.exe"""', ["hit"]),
    ],
)
def test_hostile_values_finish_quickly(tmp_path: Path, condition: str, expected: list[str]) -> None:
    events = _events(
        tmp_path,
        {
            "miss": _fill(APPDATA, ""),
            "hit": _fill(APPDATA, "x\\evil.exe"),
            "as": "a" * LENGTH,
            "as-then-b": _fill("a", "b"),
        },
    )
    assert _names(f"process where {condition}", events) == expected


def test_an_invalid_regex_is_a_query_error_naming_it(tmp_path: Path) -> None:
    events = _events(tmp_path, {"x": "x"})
    done = subprocess.run(
        [str(EQLWATCH), "query", 'process where process.name regex "a&b"', "--events", str(events)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "invalid regex 'a&b'" in done.stderr
    assert "Traceback" not in done.stderr
