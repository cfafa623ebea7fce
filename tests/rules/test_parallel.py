"""Loading a big folder on every core says exactly what loading it on one says.

Forked workers fill the rule cache; these tests compare their loads with a plain serial
load (no cache, no worker) over a folder mixing good, broken, duplicate and non-EQL rules,
and make workers fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from eqlwatch.rules import cache, load_rules, parallel
from eqlwatch.rules.compiled import clear_caches

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "queries" / "regsvr32_renamed.toml"


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "cache"
    monkeypatch.setenv(cache.ENV, str(folder))
    monkeypatch.setenv(parallel.ENV, "2")
    clear_caches()
    yield folder
    clear_caches()


def mixed_folder(folder: Path, count: int) -> Path:
    """`count` rule files: mostly good ones, and every 17th broken in its own way."""
    folder.mkdir(parents=True)
    text = SOURCE.read_text()
    text = text[: text.index("[[eqlwatch.fixtures]]")]  # their paths are the pack's
    rule_id = next(line for line in text.splitlines() if line.startswith("rule_id"))
    for i in range(count):
        made = text.replace(rule_id, f'rule_id = "00000000-0000-4000-8000-{i:012d}"')
        made = made.replace("regsvr32.exe", f"regsvr{i}.exe")
        match i % 17:
            case 3:
                made = made.replace("risk_score = ", "risk_score = 1000 + ")  # invalid TOML
            case 5:
                made = made.replace('severity = "', 'severity = "x')  # a bad value
            case 7:
                made = made.replace(f'"regsvr{i}.exe"', f'"regsvr{i}.exe" or')  # bad query
            case 9:
                made = made.replace(f"{i:012d}", f"{i - 1:012d}")  # duplicate rule_id
            case 11:
                made = made.replace('type = "eql"', 'type = "esql"')  # skipped
        (folder / f"r{i:04d}.toml").write_text(made)
    return folder


Summary = tuple[list[dict[str, object]], list[str], tuple[object, ...]]


def summary(paths: list[Path]) -> Summary:
    clear_caches()
    result = load_rules(paths)
    rules = [r.model_dump() for r in result.rules]
    return rules, [str(e) for e in result.errors], result.skipped


def probe(folder: Path, mode: str) -> dict[str, object]:
    """In a fresh process (no stray thread from other tests, so workers may fork): a serial
    load without cache, then two loads with it (cold, warm), counting forks. `mode` "die"
    makes every worker exit at once."""
    store = os.environ[cache.ENV]
    os.environ[cache.ENV], os.environ[parallel.ENV] = "off", "1"
    expected = summary([folder])
    os.environ[cache.ENV], os.environ[parallel.ENV] = store, "2"
    forks: list[int] = []
    real = os.fork

    def fork() -> int:
        pid = real()
        if pid:
            forks.append(pid)
        return pid

    os.fork = fork
    if mode == "die":
        parallel._work = lambda *args: os._exit(3)
    cold = summary([folder])
    cold_forks = len(forks)
    warm = summary([folder])
    rules, errors, skipped = expected
    return {
        "counts": [len(rules), len(errors), len(skipped)],
        "cold_equal": cold == expected,
        "warm_equal": warm == expected,
        "forks": [cold_forks, len(forks)],
    }


def run_probe(folder: Path, store: Path, mode: str) -> dict[str, object]:
    code = (
        "import json, sys; from pathlib import Path; from tests.rules.test_parallel import probe; "
        "print(json.dumps(probe(Path(sys.argv[1]), sys.argv[2])))"
    )
    env = {**os.environ, cache.ENV: str(store)}
    command = [sys.executable, "-c", code, str(folder), mode]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=True)
    found: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_workers_load_what_one_process_loads(tmp_path: Path) -> None:
    folder = mixed_folder(tmp_path / "rules", 200)
    found = run_probe(folder, tmp_path / "cache", "live")
    counts = found["counts"]
    assert isinstance(counts, list)
    rules, errors, skipped = counts
    assert rules > 100
    assert errors > 30  # errors and skips to compare
    assert skipped > 5
    assert found["cold_equal"] is True  # workers read the files
    assert found["warm_equal"] is True  # read back
    assert found["forks"] == [1, 1]  # one worker, cold only


def test_a_failing_worker_costs_time_not_rules(tmp_path: Path) -> None:
    folder = mixed_folder(tmp_path / "rules", 200)
    found = run_probe(folder, tmp_path / "cache", "die")
    assert found["forks"][0] == 1  # type: ignore[index]
    assert found["cold_equal"] is True
    assert found["warm_equal"] is True


def count_forks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    forks: list[int] = []
    real = os.fork

    def fork() -> int:
        pid = real()
        if pid:
            forks.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", fork)
    return forks


def test_no_fork_while_another_thread_runs(
    cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = mixed_folder(tmp_path / "rules", 200)
    forks = count_forks(monkeypatch)
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        result = load_rules([folder])
    finally:
        release.set()
        other.join()
    assert forks == []
    assert len(result.rules) > 100


def test_no_worker_for_few_files_or_without_a_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(parallel.ENV, "2")
    assert parallel.processes(parallel.MIN_FILES_PER_WORKER) == 1
    assert parallel.processes(2 * parallel.MIN_FILES_PER_WORKER) == 2
    monkeypatch.setenv(parallel.ENV, "1")
    assert parallel.processes(10_000) == 1
    monkeypatch.setenv(parallel.ENV, "2")
    monkeypatch.setenv(cache.ENV, "off")
    folder = mixed_folder(tmp_path / "rules", 200)
    forks = count_forks(monkeypatch)
    clear_caches()
    load_rules([folder])
    assert forks == []


def test_cli_validate_with_workers_prints_what_it_prints_alone(tmp_path: Path) -> None:
    folder = mixed_folder(tmp_path / "rules", 200)
    command = [sys.executable, "-m", "eqlwatch", "validate", str(folder)]
    outputs = []
    for workers, store in (("1", "off"), ("2", str(tmp_path / "c")), ("2", str(tmp_path / "c"))):
        env = {**os.environ, parallel.ENV: workers, cache.ENV: store}
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        outputs.append((done.returncode, done.stdout, done.stderr))
    assert outputs[0][0] == 1
    assert "error(s)" in outputs[0][1]
    assert "duplicate rule_id" in outputs[0][2]
    assert outputs[1] == outputs[0]
    assert outputs[2] == outputs[0]
