"""tests/data: every shipped file is accounted for in its SOURCES.md, hash and licence.

The notes are what lets anyone check the data is what its upstream published, under a
licence that allows it here; a file added, replaced or re-compressed without its note fails.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path

import pytest

from tests.conftest import DATA_DIR

SOURCES = sorted(p.parent for p in DATA_DIR.glob("*/SOURCES.md"))
# A table row whose first cell is a backticked path relative to the folder.
ROW = re.compile(r"^\| `(?P<path>[^`]+)` \|(?P<rest>.*)\|$")
NOTES = {"README.md", "SOURCES.md"}


def _rows(folder: Path) -> dict[str, list[str]]:
    """Path → the backticked sha256 values of its row, in column order."""
    rows: dict[str, list[str]] = {}
    for line in (folder / "SOURCES.md").read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match is None:
            continue
        path = match["path"]
        assert path not in rows, f"{folder.name}/SOURCES.md lists {path} twice"
        rows[path] = re.findall(r"`([0-9a-f]{64})`", match["rest"])
    return rows


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_four_sources_are_shipped() -> None:
    assert [p.name for p in SOURCES] == [
        "conformance",
        "eqllib-atomic",
        "evtx-attack-samples",
        "sigma",
    ]


def test_no_data_outside_a_source_folder() -> None:
    loose = [p.name for p in DATA_DIR.iterdir() if p.is_file() and p.name not in NOTES]
    assert loose == []
    assert {p for p in DATA_DIR.iterdir() if p.is_dir()} == set(SOURCES)


@pytest.mark.parametrize("folder", SOURCES, ids=[p.name for p in SOURCES])
def test_each_source_has_its_licence(folder: Path) -> None:
    (licence,) = folder.glob("LICENSE*")
    assert "Permission is hereby granted" in licence.read_text(encoding="utf-8") or (
        "GENERAL PUBLIC LICENSE" in licence.read_text(encoding="utf-8")
    )


@pytest.mark.parametrize("folder", SOURCES, ids=[p.name for p in SOURCES])
def test_every_file_is_listed_with_its_sha256(folder: Path) -> None:
    rows = _rows(folder)
    shipped = {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.name not in NOTES and not p.name.startswith("LICENSE")
    }
    assert shipped, folder
    assert sorted(shipped - rows.keys()) == [], "shipped but not in SOURCES.md"
    assert sorted(rows.keys() - shipped) == [], "in SOURCES.md but not shipped"
    for rel, hashes in rows.items():
        data = (folder / rel).read_bytes()
        assert hashes, f"{rel}: no sha256 in its row"
        assert hashes[0] == _sha256(data), f"{folder.name}/{rel} does not match SOURCES.md"
        if rel.startswith("ndjson/"):
            # The second hash is of the NDJSON inside, as converted from the upstream EVTX.
            assert hashes[1] == _sha256(gzip.decompress(data)), rel


def test_the_ndjson_exports_cover_the_answer_key_captures() -> None:
    """Each of the six EVTX originals has its NDJSON export beside it (tests compare them)."""
    base = DATA_DIR / "evtx-attack-samples"
    evtx = sorted(p.relative_to(base / "evtx") for p in (base / "evtx").rglob("*.evtx"))
    assert len(evtx) == 6
    for rel in evtx:
        assert (base / "ndjson" / rel.with_suffix(".ndjson.gz")).is_file(), rel


def test_modules_reading_shared_directly_are_marked() -> None:
    """A module reaching ../shared by constant (not by fixture, which marks its tests itself)
    must mark its tests `needs_shared`, or a fresh clone would fail there instead of skip."""
    tests = DATA_DIR.parent
    direct = re.compile(r"\b(SHARED_DIR|GROUND_TRUTH_DIR)\b|\.\./shared|/ \"shared\"")
    unmarked = [
        p.relative_to(tests).as_posix()
        for p in sorted(tests.rglob("test_*.py"))
        if p.name not in {Path(__file__).name, "test_bare_clone.py"}  # these read no ../shared
        and direct.search(p.read_text(encoding="utf-8"))
        and "pytestmark = pytest.mark.needs_shared" not in p.read_text(encoding="utf-8")
    ]
    assert unmarked == []
