"""`kill -9` at random points loses and duplicates nothing (issue 9, "Done means").

The real CLI runs in subprocesses over a copy of the demo data: a backfill over several
windows and a series of `run --once` with fixed `--now` values. A clean pass records the
alert ids each command ends with and how long it took. The faulty pass kills commands with
SIGKILL at seeded random points of that duration (bounded in count and time) and restarts
each until it completes. Both must end with the same alert ids, no line twice in
out/alerts.ndjson, and no lease left behind.
"""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from eqlwatch.demo import write_demo_data

END = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)  # the demo data's last event time
MAX_KILLS = 6
MAX_SECONDS = 150  # a guard against a hang, far above the ~30-60 s this takes
SEED = 20261207


def _at(minutes: int) -> str:
    return (END + timedelta(minutes=minutes)).isoformat()


# A backfill over four 10-minute windows, then runs that catch up in 10-minute slices. All
# `--now` stay at or before END: every window ends where the data already holds events.
COMMANDS: list[tuple[str, ...]] = [
    ("backfill", "--from", _at(-45), "--to", _at(-5)),
    ("run", "--once", "--now", _at(-35)),
    ("run", "--once", "--now", _at(-18)),
    ("run", "--once", "--now", _at(-1)),
]


def _project(root: Path, repo_root: Path, demo: Path) -> Path:
    for name in ("queries", "templates", "jobs"):
        shutil.copytree(repo_root / name, root / name)
    shutil.copytree(demo, root / "data" / "demo")
    job = root / "jobs" / "default.toml"
    text = job.read_text().replace('max_chunk = "1h"', 'max_chunk = "10m"')
    assert 'max_chunk = "10m"' in text
    job.write_text(text)
    return root


def _start(project: Path, command: tuple[str, ...]) -> subprocess.Popen[bytes]:
    with (project / "stderr.log").open("ab") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "eqlwatch", *command, "--log-format", "json"],
            cwd=project,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def _finish(project: Path, command: tuple[str, ...]) -> float:
    started = time.monotonic()
    proc = _start(project, command)
    code = proc.wait(timeout=MAX_SECONDS)
    log = (project / "stderr.log").read_text()[-3000:]
    assert code == 0, f"{command} exited {code}:\n{log}"
    return time.monotonic() - started


def _alert_lines(project: Path) -> list[bytes]:
    path = project / "out" / "alerts.ndjson"
    return path.read_bytes().splitlines() if path.exists() else []


def _ids(project: Path) -> list[str]:
    return [orjson.loads(line)["eqlwatch"]["alert_id"] for line in _alert_lines(project)]


@pytest.mark.slow
def test_sigkill_at_random_points_loses_and_duplicates_nothing(
    tmp_path: Path, repo_root: Path
) -> None:
    demo = tmp_path / "demo"
    write_demo_data(demo, end=END)
    clean = _project(tmp_path / "clean", repo_root, demo)
    durations = [_finish(clean, command) for command in COMMANDS]
    expected = set(_ids(clean))
    assert expected, "the clean pass wrote no alert: nothing to test"

    faulty = _project(tmp_path / "faulty", repo_root, demo)
    rng = random.Random(SEED)
    kills: list[tuple[int, float]] = []
    deadline = time.monotonic() + MAX_SECONDS
    for number, (command, duration) in enumerate(zip(COMMANDS, durations, strict=True)):
        for _ in range(rng.randint(1, 2)):  # one or two kills per command, seeded
            if len(kills) >= MAX_KILLS or time.monotonic() > deadline:
                break
            delay = rng.uniform(0.2, 1.0) * duration
            proc = _start(faulty, command)
            try:
                code = proc.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                code = proc.wait()
            if code != -signal.SIGKILL:  # it finished before the kill: a completed command
                assert code == 0, (faulty / "stderr.log").read_text()[-3000:]
                break
            kills.append((number, round(delay, 2)))
        _finish(faulty, command)  # the restart that completes it
    assert kills, "no command was killed: nothing tested"

    ids = _ids(faulty)
    assert len(ids) == len(set(ids)), f"an alert was written twice (kills at {kills})"
    assert set(ids) == expected, f"kills at {kills}"
    assert len(_alert_lines(faulty)) == len(ids)  # no torn or blank line left
    state = orjson.loads((faulty / "state" / "state.json").read_bytes())
    assert state["leases"] == {}
    clean_state = orjson.loads((clean / "state" / "state.json").read_bytes())
    assert state["checkpoints"] == clean_state["checkpoints"]
