"""The cache of rules and parsed queries across processes: faithful, and never in the way."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from eqlwatch.engine.parse import clear_cache
from eqlwatch.rules import cache, load_rules
from eqlwatch.rules.compiled import clear_caches

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(cache.ENV, str(folder))
    clear_caches()
    return folder


def entries(folder: Path, kind: str) -> list[Path]:
    return sorted(folder.glob(f"*/{kind}/*.pickle"))


def fresh_load(paths: list[Path]) -> tuple[list[object], list[str]]:
    """Load as a new process would: nothing kept in this one."""
    clear_caches()
    result = load_rules(paths)
    return [r.model_dump() for r in result.rules], [str(e) for e in result.errors]


def test_second_load_reads_the_cache_and_equals_the_first(cache_dir: Path) -> None:
    first = fresh_load([REPO / "queries"])
    rules, parsed = entries(cache_dir, "rules"), entries(cache_dir, "parsed")
    assert len(rules) == len(list((REPO / "queries").glob("*.toml")))
    assert len(parsed) == len(rules)
    stamps = [p.stat().st_mtime_ns for p in rules + parsed]
    second = fresh_load([REPO / "queries"])
    assert second == first
    assert [p.stat().st_mtime_ns for p in rules + parsed] == stamps  # read, not rewritten
    assert cache_dir.stat().st_mode & 0o022 == 0
    assert next(cache_dir.iterdir()).stat().st_mode & 0o777 == 0o700


def test_corrupt_entries_are_ignored_and_rewritten(cache_dir: Path) -> None:
    first = fresh_load([REPO / "queries"])
    damaged = entries(cache_dir, "rules") + entries(cache_dir, "parsed")
    for i, path in enumerate(damaged):
        path.write_bytes(b"" if i % 3 == 0 else b"\x80\x05garbage" if i % 3 == 1 else b"\x80")
    assert fresh_load([REPO / "queries"]) == first
    assert all(p.stat().st_size > 100 for p in damaged)


def test_an_edited_rule_is_read_again(cache_dir: Path, tmp_path: Path) -> None:
    rule = tmp_path / "rules" / "r.toml"
    rule.parent.mkdir()
    text = (REPO / "queries" / "regsvr32_renamed.toml").read_text()
    rule.write_text(text)
    assert fresh_load([rule])[1] == []
    rule.write_text(text.replace("risk_score = ", "risk_score = 1000 + "))
    _, errors = fresh_load([rule])
    assert len(errors) == 1
    assert "rule.risk_score" in errors[0] or "invalid TOML" in errors[0]


def test_off_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.ENV, "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.cache_root() is None
    assert fresh_load([REPO / "queries"])[1] == []
    assert not (tmp_path / "xdg").exists()
    assert not (tmp_path / "home").exists()


def test_a_folder_others_can_write_is_not_read(cache_dir: Path) -> None:
    first = fresh_load([REPO / "queries"])
    folder = next(cache_dir.iterdir())
    for path in entries(cache_dir, "rules"):
        path.write_bytes(b"\x80\x05N.")  # a pickle of None: would be ignored anyway
    folder.chmod(0o777)
    try:
        assert cache._folder("rules") is None
        assert fresh_load([REPO / "queries"]) == first
    finally:
        folder.chmod(0o700)


def test_other_fingerprints_are_pruned(cache_dir: Path) -> None:
    stale = cache_dir / "stale-fingerprint" / "rules"
    stale.mkdir(parents=True)
    (stale / "x.pickle").write_bytes(b"old")
    fresh_load([REPO / "queries"])
    assert not (cache_dir / "stale-fingerprint").exists()
    assert [p.name for p in cache_dir.iterdir()] == [cache.fingerprint()]


def test_cli_validate_twice_through_processes(tmp_path: Path) -> None:
    """Two real processes: the second reads every rule back and says the same."""
    env = {**os.environ, cache.ENV: str(tmp_path / "cache")}
    command = [sys.executable, "-m", "eqlwatch", "validate", "queries", "jobs", "templates"]
    runs = [
        subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
        for _ in range(2)
    ]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr
    assert runs[0].stdout == runs[1].stdout
    assert " 0 error(s)" in runs[1].stdout
    assert len(entries(tmp_path / "cache", "rules")) == len(list((REPO / "queries").glob("*.toml")))


def test_clear_cache_forgets_parses() -> None:
    from eqlwatch.engine.parse import known_parse, parse

    text = 'process where process.name == "forget-me.exe"'
    parse(text)
    assert known_parse(text) is not None
    clear_cache()
    assert known_parse(text) is None
