"""The cache of rules and parsed queries across processes: faithful, and never in the way.

It is one SQLite file per eqlwatch fingerprint; these tests damage it, share it between
processes running at once, kill processes writing it, and open it to others.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from eqlwatch.engine import parse as parser
from eqlwatch.engine.parse import clear_cache
from eqlwatch.rules import cache, load_rules
from eqlwatch.rules.compiled import clear_caches

REPO = Path(__file__).resolve().parents[2]
PACK = REPO / "queries"


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "cache"
    monkeypatch.setenv(cache.ENV, str(folder))
    clear_caches()
    yield folder
    clear_caches()


def rows(folder: Path, kind: str) -> list[tuple[bytes, bytes]]:
    """The (key, value) entries of one kind, read with SQLite itself."""
    (database,) = folder.glob(f"*/{cache.DB_NAME}")
    with sqlite3.connect(database) as connection:
        found = connection.execute(
            "SELECT key, value FROM entries WHERE kind = ? ORDER BY key", (kind,)
        )
        return [(bytes(k), bytes(v)) for k, v in found]


def fresh_load(paths: list[Path]) -> tuple[list[object], list[str]]:
    """Load as a new process would: nothing kept in this one."""
    clear_caches()
    result = load_rules(paths)
    return [r.model_dump() for r in result.rules], [str(e) for e in result.errors]


def forbid_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any query parsed (not read back) from now on fails the test."""

    def refuse(text: str) -> object:
        raise AssertionError(f"parsed again: {text[:40]!r}")

    monkeypatch.setattr(parser, "_parse_text", refuse)


def test_second_load_reads_the_cache_and_equals_the_first(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = fresh_load([PACK])
    assert first[1] == []
    count = len(list(PACK.glob("*.toml")))
    assert len(rows(cache_dir, "rules")) == count
    assert len(rows(cache_dir, "parsed")) == count
    before = rows(cache_dir, "rules") + rows(cache_dir, "parsed")
    forbid_parsing(monkeypatch)
    clear_caches()
    result = load_rules([PACK])
    assert cache.pending() == 0  # read, nothing new to write
    assert ([r.model_dump() for r in result.rules], [str(e) for e in result.errors]) == first
    assert rows(cache_dir, "rules") + rows(cache_dir, "parsed") == before
    assert cache_dir.stat().st_mode & 0o022 == 0
    folder = next(cache_dir.iterdir())
    assert folder.stat().st_mode & 0o777 == 0o700
    assert [p.name for p in folder.iterdir() if p.name.endswith(".sqlite")] == [cache.DB_NAME]
    assert (folder / cache.DB_NAME).stat().st_mode & 0o077 == 0


def test_one_file_not_one_per_entry(cache_dir: Path) -> None:
    fresh_load([PACK])
    clear_caches()  # closed: SQLite folds its write-ahead log into the file
    files = [p for p in cache_dir.rglob("*") if p.is_file()]
    assert [p.name for p in files] == [cache.DB_NAME]


def test_corrupt_entries_are_ignored_and_rewritten(cache_dir: Path) -> None:
    first = fresh_load([PACK])
    clear_caches()
    (database,) = cache_dir.glob(f"*/{cache.DB_NAME}")
    with sqlite3.connect(database) as connection:
        keys = connection.execute("SELECT kind, key FROM entries").fetchall()
        for i, (kind, key) in enumerate(keys):
            garbage = b"" if i % 3 == 0 else b"\x80\x05garbage" if i % 3 == 1 else b"\x80\x05N."
            connection.execute(
                "UPDATE entries SET value = ? WHERE kind = ? AND key = ?", (garbage, kind, key)
            )
    assert fresh_load([PACK]) == first
    clear_caches()
    values = [value for _, value in rows(cache_dir, "rules") + rows(cache_dir, "parsed")]
    assert all(len(value) > 100 for value in values)


def test_a_file_that_is_not_a_database_is_replaced(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = fresh_load([PACK])
    clear_caches()
    (database,) = cache_dir.glob(f"*/{cache.DB_NAME}")
    database.write_bytes(b"not a database at all, " * 400)
    assert fresh_load([PACK]) == first
    clear_caches()
    assert len(rows(cache_dir, "rules")) == len(first[0])
    forbid_parsing(monkeypatch)
    assert fresh_load([PACK]) == first


def test_an_edited_rule_is_read_again(cache_dir: Path, tmp_path: Path) -> None:
    rule = tmp_path / "rules" / "r.toml"
    rule.parent.mkdir()
    text = (PACK / "regsvr32_renamed.toml").read_text()
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
    assert fresh_load([PACK])[1] == []
    clear_caches()
    assert not (tmp_path / "xdg").exists()
    assert not (tmp_path / "home").exists()


@pytest.mark.parametrize("target", ["folder", "file"])
def test_a_cache_others_can_write_is_not_read(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    first = fresh_load([PACK])
    clear_caches()
    (database,) = cache_dir.glob(f"*/{cache.DB_NAME}")
    with sqlite3.connect(database) as connection:  # a planted pickle would run code
        connection.execute("UPDATE entries SET value = ?", (b"\x80\x05N.",))
    opened = database.parent if target == "folder" else database
    opened.chmod(0o777 if target == "folder" else 0o666)
    try:
        calls: list[str] = []
        real = parser._parse_text

        def counted(text: str) -> parser.ParsedQuery:
            calls.append(text)
            return real(text)

        monkeypatch.setattr(parser, "_parse_text", counted)
        assert fresh_load([PACK]) == first
        assert len(calls) == len(first[0])  # every query parsed: nothing read from there
        assert cache.pending() == 0  # and nothing would be written there
    finally:
        opened.chmod(0o700 if target == "folder" else 0o600)


def test_other_fingerprints_beyond_the_last_used_are_pruned(cache_dir: Path) -> None:
    stale = []
    for age in range(cache.KEEP_OTHERS + 2):  # age 0 = used last
        folder = cache_dir / f"other-{age}"
        folder.mkdir(parents=True)
        (folder / cache.DB_NAME).write_bytes(b"old")
        when = time.time() - 3600 * (age + 1)
        os.utime(folder, (when, when))
        stale.append(folder)
    fresh_load([PACK])
    kept = sorted(p.name for p in cache_dir.iterdir())
    assert kept == sorted([cache.fingerprint(), *(f"other-{a}" for a in range(cache.KEEP_OTHERS))])


_LOAD = """
import sys
from eqlwatch.engine import parse
from eqlwatch.rules import cache, load_rules
if sys.argv[2] == "warm":
    def refuse(text):
        raise SystemExit(f"parsed again: {text[:40]!r}")
    parse._parse_text = refuse
result = load_rules([sys.argv[1]])
assert not result.errors and result.rules, result.errors
print(cache.fingerprint())
"""


def test_two_installs_keep_each_others_entries(tmp_path: Path) -> None:
    """A venv and a pipx install of different versions, used in turn by one user: each
    run of one must not clear the other's entries (it did: every run parsed again)."""
    import shutil

    trees = []
    for name in ("a", "b"):
        tree = tmp_path / name
        shutil.copytree(
            REPO / "src" / "eqlwatch",
            tree / "eqlwatch",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        (tree / "eqlwatch" / "_variant.py").write_text(f'"""install {name}"""\n')
        trees.append(tree)
    env = {**os.environ, cache.ENV: str(tmp_path / "cache"), "PYTHONDONTWRITEBYTECODE": "1"}

    def run(tree: Path, mode: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", _LOAD, str(PACK), mode],
            env={**env, "PYTHONPATH": str(tree)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    first = run(trees[0], "cold")
    second = run(trees[1], "cold")
    assert first != second  # two code versions, two folders
    assert run(trees[0], "warm") == first  # a's entries survived b's run
    assert run(trees[1], "warm") == second
    assert sorted(
        p.name for p in (tmp_path / "cache").iterdir() if p.name in (first, second)
    ) == sorted([first, second])


def many_rules(folder: Path, count: int) -> Path:
    """`count` distinct rules (own ids and queries) made from one of the pack's."""
    folder.mkdir(parents=True)
    text = (PACK / "regsvr32_renamed.toml").read_text()
    text = text[: text.index("[[eqlwatch.fixtures]]")]  # their paths are the pack's
    rule_id = next(line for line in text.splitlines() if line.startswith("rule_id"))
    for i in range(count):
        made = text.replace(rule_id, f'rule_id = "00000000-0000-4000-8000-{i:012d}"')
        made = made.replace("regsvr32.exe", f"regsvr{i}.exe")
        (folder / f"r{i:04d}.toml").write_text(made)
    return folder


def validate(folder: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "eqlwatch", "validate", str(folder)]
    return subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_processes_at_once_share_one_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three validates at once, each writing the same 150 rules: none fails, the file is
    sound, and a later load reads every rule back without parsing."""
    folder = many_rules(tmp_path / "rules", 150)
    store = tmp_path / "cache"
    env = {**os.environ, cache.ENV: str(store)}
    runs = [validate(folder, env) for _ in range(3)]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], outputs
    assert len({out for out, _ in outputs}) == 1
    assert "150 rule file(s)" in outputs[0][0]
    (database,) = store.glob(f"*/{cache.DB_NAME}")
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert len(rows(store, "rules")) == 150
    monkeypatch.setenv(cache.ENV, str(store))
    forbid_parsing(monkeypatch)
    _, errors = fresh_load([folder])
    assert errors == []
    clear_caches()


def test_processes_killed_while_writing_leave_a_sound_cache(tmp_path: Path) -> None:
    """validate killed at several points of its run (reading, writing): the next runs work
    and say what an uncached run says."""
    folder = many_rules(tmp_path / "rules", 150)
    store = tmp_path / "cache"
    env = {**os.environ, cache.ENV: str(store)}
    for delay in (0.6, 1.2, 1.8, 2.4):
        run = validate(folder, env)
        time.sleep(delay)
        run.send_signal(signal.SIGKILL)
        run.communicate(timeout=60)
    expected = validate(folder, {**env, cache.ENV: "off"}).communicate(timeout=300)
    run = validate(folder, env)
    assert run.communicate(timeout=300) == expected
    assert run.returncode == 0
    (database,) = store.glob(f"*/{cache.DB_NAME}")
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert len(rows(store, "rules")) == 150


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
    assert len(rows(tmp_path / "cache", "rules")) == len(list(PACK.glob("*.toml")))


def test_clear_cache_forgets_parses() -> None:
    from eqlwatch.engine.parse import known_parse, parse

    text = 'process where process.name == "forget-me.exe"'
    parse(text)
    assert known_parse(text) is not None
    clear_cache()
    assert known_parse(text) is None


def test_a_query_that_compiled_is_not_compiled_again_to_check_it(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """validate's second run need not compile; a changed query is compiled (and fails)."""
    import eqlwatch.engine

    first = fresh_load([PACK])
    assert len(rows(cache_dir, "compiled")) == len(first[0])

    def refuse(*args: object, **kwargs: object) -> object:
        raise AssertionError("compiled again")

    with monkeypatch.context() as patched:
        patched.setattr(eqlwatch.engine, "compile_query", refuse)
        assert fresh_load([PACK]) == first
    rule = tmp_path / "rules" / "r.toml"
    rule.parent.mkdir()
    text = (PACK / "regsvr32_renamed.toml").read_text()
    broken = 'process.name : "regsvr32.exe" or'  # the query ends after `or`
    rule.write_text(text.replace('process.name : "regsvr32.exe"', broken))
    _, errors = fresh_load([rule])
    assert len(errors) == 1
    assert "[rule.query]" in errors[0]
