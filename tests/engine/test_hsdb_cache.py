"""Hyperscan databases read back from the cache match exactly as freshly compiled ones,
and a kept file that is damaged, shared or writable by others is never used."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.cachedir import ENV
from eqlwatch.engine import hsdb_cache
from eqlwatch.pipeline.linematch import hyperscan_matcher, needle_scan, python_matcher

hyperscan = pytest.importorskip("hyperscan")

RULES = [
    frozenset({b"cmd.exe", b"powershell"}),
    frozenset({b"rundll32"}),
    frozenset({b"\\temp\\", b"cmd.exe"}),
]
LINES = [
    b'{"process": {"name": "CMD.EXE"}}',
    b'{"process": {"name": "rundll32.exe", "args": ["C:\\\\Temp\\\\x"]}}',
    b'{"process": {"name": "calc.exe"}}',
    b'{"a": "\\u0041"}',
    b'{"a": "\xc4\xb0"}',
]


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(ENV, str(tmp_path / "cache"))
    return tmp_path / "cache" / hsdb_cache.FOLDER


def kept(store: Path) -> list[Path]:
    return sorted(store.glob(f"*{hsdb_cache.SUFFIX}"))


def answers(rules: list[frozenset[bytes]], lines: list[bytes]) -> list[list[int] | None]:
    match = hyperscan_matcher(rules)
    assert match is not None
    return [match(line) for line in lines]


def test_loaded_database_matches_as_compiled(store: Path) -> None:
    expected = [python_matcher(RULES)(line) for line in LINES]
    assert answers(RULES, LINES) == expected  # compiles, then keeps
    (file,) = kept(store)
    assert file.stat().st_mode & 0o077 == 0
    assert store.stat().st_mode & 0o077 == 0
    body = file.read_bytes()
    assert answers(RULES, LINES) == expected  # loaded
    assert file.read_bytes() == body  # read, not written again
    assert expected[0] == [0, 2]
    assert expected[2] is None
    assert expected[3] == [0, 1, 2]


def test_a_load_does_not_compile(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    answers(RULES, LINES)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("compiled although kept")

    monkeypatch.setattr(hyperscan, "Database", refuse)
    assert answers(RULES, LINES) == [python_matcher(RULES)(line) for line in LINES]


needle = st.binary(min_size=1, max_size=6).map(bytes.lower)


@settings(max_examples=60, deadline=None)
@given(
    rules=st.lists(st.frozensets(needle, min_size=1, max_size=4), min_size=1, max_size=5),
    lines=st.lists(st.binary(max_size=40), max_size=12),
)
def test_kept_and_compiled_agree(
    tmp_path_factory: pytest.TempPathFactory,
    rules: list[frozenset[bytes]],
    lines: list[bytes],
) -> None:
    lines = lines + [b"x" + n.upper() + b"y" for group in rules for n in group]
    root = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENV, str(root))
        built = answers(rules, lines)
        (file,) = root.joinpath(hsdb_cache.FOLDER).glob("*.hsdb")
        loaded = answers(rules, lines)
        ids = needle_scan(sorted({n for g in rules for n in g}))
        scans = [ids(line) for line in lines], [ids(line) for line in lines]
        assert len(list(file.parent.glob("*.hsdb"))) == 2  # the needle scan's kept too
    assert loaded == built
    assert built == [python_matcher(rules)(line) for line in lines]
    assert scans[0] == scans[1]


def damage(file: Path) -> None:
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 0xFF  # the digest no longer matches; Hyperscan would load it
    file.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "spoil",
    [
        damage,
        lambda f: f.write_bytes(f.read_bytes()[:100]),
        lambda f: f.write_bytes(b""),
        lambda f: f.chmod(0o664),
        lambda f: f.chmod(0o646),
        lambda f: f.parent.chmod(0o777),
    ],
    ids=["flipped-byte", "torn", "empty", "group-writable", "others-writable", "shared-folder"],
)
def test_spoiled_file_is_not_used(
    store: Path, monkeypatch: pytest.MonkeyPatch, spoil: Callable[[Path], object]
) -> None:
    expressions, ids, flags = [b"abc", b"xyz"], [0, 1], [0, 0]
    mode = hyperscan.HS_MODE_BLOCK
    hsdb_cache.compiled(expressions, ids, flags, mode)
    (file,) = kept(store)
    spoil(file)
    loads: list[bytes] = []
    real = hyperscan.loadb

    def spy(body: bytes, mode: int) -> object:
        loads.append(body)
        return real(body, mode)

    monkeypatch.setattr(hyperscan, "loadb", spy)
    db = hsdb_cache.compiled(expressions, ids, flags, mode)
    assert loads == []  # Hyperscan never saw the spoiled bytes
    found: list[int] = []
    db.scan(b"..xyz..abc", match_event_handler=lambda i, *_: found.append(i))
    assert sorted(found) == [0, 1]


def test_damaged_file_is_written_again(store: Path) -> None:
    answers(RULES, LINES)
    (file,) = kept(store)
    good = file.read_bytes()
    damage(file)
    assert answers(RULES, LINES) == [python_matcher(RULES)(line) for line in LINES]
    assert file.read_bytes() == good


def test_cache_off_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert answers(RULES, LINES) == [python_matcher(RULES)(line) for line in LINES]
    assert list(tmp_path.iterdir()) == []


def test_only_the_newest_are_kept(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hsdb_cache, "KEEP", 3)
    for n in range(5):
        hsdb_cache.compiled([b"needle%d" % n], [0], [0], hyperscan.HS_MODE_BLOCK)
    assert len(kept(store)) == 3


def test_rule_cache_pruning_leaves_databases(store: Path) -> None:
    from eqlwatch.rules import cache

    answers(RULES, LINES)
    cache._prune(store.parent / "another-fingerprint")
    assert len(kept(store)) == 1


CHILD = textwrap.dedent(
    """
    import sys
    from eqlwatch.pipeline.linematch import hyperscan_matcher
    rules = [frozenset({b"<needle%d>" % i, b"<other%d>" % i}) for i in range(400)]
    match = hyperscan_matcher(rules)
    lines = [b"xx <NEEDLE%d> yy" % i for i in range(400)] + [b"nothing here"]
    got = [match(line) for line in lines]
    assert got == [[i] for i in range(400)] + [None], "wrong matches"
    print("ok")
    """
)


def test_two_processes_at_once(tmp_path: Path) -> None:
    env = {**os.environ, ENV: str(tmp_path / "cache")}
    runs = [
        subprocess.Popen([sys.executable, "-c", CHILD], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0]
    assert outputs == ["ok\n"] * 3
    folder = tmp_path / "cache" / hsdb_cache.FOLDER
    assert [p.suffix for p in folder.iterdir()] == [hsdb_cache.SUFFIX]  # no temp left
    again = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True)
    assert again.stdout == "ok\n", again.stderr
