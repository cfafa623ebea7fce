"""Compiled note templates kept across `hunt` processes: never stale, never trusted when
damaged, never read from a folder others can write.

Each case runs `eqlwatch hunt --format ndjson` in a fresh interpreter that counts how many
templates jinja compiled, with its own cache folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from jinja2.bccache import bc_magic

from tests.console_probe import RUN_MAIN
from tests.rules.conftest import minimal_rule

# Runs `eqlwatch ARGS...` as the console script does, counting jinja's compilations.
_PROBE = (
    """
import json, os, sys
import jinja2
compiled = []
original = jinja2.Environment.compile
def counting(self, source, name=None, filename=None, raw=False, defer_init=False):
    compiled.append(name)
    return original(self, source, name, filename, raw, defer_init)
jinja2.Environment.compile = counting
"""
    + RUN_MAIN
    + """with open(os.environ["EQLWATCH_TEST_REPORT"], "w") as out:
    json.dump(compiled, out)
sys.exit(code)
"""
)

TEMPLATE = """{% import "_macros.md.j2" as m %}# {{ rule.name }}

{{ m.cmd(events[0]) }} -- version {{ version }}
"""
MACROS = """{% macro cmd(ev) %}`{{ ev | field("process.command_line") }}`{% endmacro %}"""


def _project(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "rules").mkdir()
    (tmp_path / "templates").mkdir()
    rule = minimal_rule() + '\n[eqlwatch]\ntemplate = "mine.md.j2"\n'
    (tmp_path / "rules" / "r.toml").write_text(rule)
    _template(tmp_path, "one")
    (tmp_path / "templates" / "_macros.md.j2").write_text(MACROS)
    event = {
        "@timestamp": "2026-11-21T11:00:00.000Z",
        "event": {"category": ["process"], "type": ["start"]},
        "host": {"name": "ws-1"},
        "process": {"name": "regsvr32.exe", "pid": 1, "command_line": "regsvr32 /s x.dll"},
    }
    events = tmp_path / "e.ndjson"
    events.write_bytes(orjson.dumps(event) + b"\n")
    return events, tmp_path / "cache"


def _template(tmp_path: Path, version: str) -> None:
    (tmp_path / "templates" / "mine.md.j2").write_text(TEMPLATE.replace("{{ version }}", version))


def _hunt(tmp_path: Path, events: Path, cache: Path) -> tuple[str, list[str]]:
    """The note of the one alert, and the templates compiled to write it."""
    report = tmp_path / "compiled.json"
    env = {**os.environ, "EQLWATCH_CACHE_DIR": str(cache), "EQLWATCH_TEST_REPORT": str(report)}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, "hunt", "--rules", "rules", "--templates", "templates",
         "--format", "ndjson", "--no-progress", str(events)],
        capture_output=True, cwd=tmp_path, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert b"1 alerts, 0 note errors" in done.stderr, done.stderr.decode()
    (alert,) = [orjson.loads(line) for line in done.stdout.splitlines()]
    compiled: list[str] = json.loads(report.read_text())
    return alert["eqlwatch"]["note"], compiled


def _cached_files(cache: Path) -> list[Path]:
    return sorted(cache.glob("*/templates-*/*.cache"))


def test_a_second_hunt_compiles_nothing_and_writes_the_same_note(tmp_path: Path) -> None:
    events, cache = _project(tmp_path)
    note, compiled = _hunt(tmp_path, events, cache)
    assert note == "# Minimal\n\n`regsvr32 /s x.dll` -- version one\n"
    assert {"mine.md.j2", "_macros.md.j2"} <= set(compiled)
    assert len(_cached_files(cache)) >= 2
    again, compiled = _hunt(tmp_path, events, cache)
    assert again == note
    assert compiled == []


def test_an_edited_template_or_macro_is_compiled_again_never_reused(tmp_path: Path) -> None:
    events, cache = _project(tmp_path)
    _hunt(tmp_path, events, cache)
    _template(tmp_path, "two")
    note, compiled = _hunt(tmp_path, events, cache)
    assert note.endswith("-- version two\n")
    assert compiled == ["mine.md.j2"]
    (tmp_path / "templates" / "_macros.md.j2").write_text(MACROS.replace("`", "'"))
    note, compiled = _hunt(tmp_path, events, cache)
    assert "'regsvr32 /s x.dll'" in note
    assert compiled == ["_macros.md.j2"]


@pytest.mark.parametrize(
    "damage",
    [
        b"",  # emptied
        b"garbage that is not a jinja cache file at all",
        None,  # jinja's header kept, the rest torn mid-way
        bc_magic + b"\xff not a pickle",  # jinja's header, then what its pickle.load rejects
    ],
    ids=["emptied", "garbage", "torn", "bad-pickle"],
)
def test_a_damaged_cache_file_is_ignored_and_written_again(
    tmp_path: Path, damage: bytes | None
) -> None:
    events, cache = _project(tmp_path)
    note, _ = _hunt(tmp_path, events, cache)
    files = _cached_files(cache)
    for file in files:
        data = file.read_bytes()
        file.write_bytes(data[: len(data) // 3] if damage is None else damage)
    again, compiled = _hunt(tmp_path, events, cache)
    assert again == note
    assert {"mine.md.j2", "_macros.md.j2"} <= set(compiled)
    _, compiled = _hunt(tmp_path, events, cache)  # the files were written again
    assert compiled == []


def test_a_cache_folder_others_can_write_is_not_read(tmp_path: Path) -> None:
    events, cache = _project(tmp_path)
    _hunt(tmp_path, events, cache)
    (folder,) = {f.parent for f in _cached_files(cache)}
    folder.chmod(0o777)
    try:
        note, compiled = _hunt(tmp_path, events, cache)
    finally:
        folder.chmod(0o700)
    assert note.endswith("-- version one\n")
    assert "mine.md.j2" in compiled


def test_with_the_cache_off_nothing_is_kept(tmp_path: Path) -> None:
    events, _ = _project(tmp_path)
    note, _ = _hunt(tmp_path, events, Path("off"))
    assert note.endswith("-- version one\n")
    again, compiled_again = _hunt(tmp_path, events, Path("off"))
    assert again == note
    assert "mine.md.j2" in compiled_again
    assert not (tmp_path / "off").exists()
