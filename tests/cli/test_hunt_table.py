"""`hunt`'s default table output as a user meets it: piped into a file, and at a terminal.

Piped, every alert has its row and its note as Markdown text; at a terminal the first
`NOTES_SHOWN` notes are rendered and a line says how many more there are and how to see
them. Field values come from event data: rich markup, emoji codes and control characters
in them are printed as text, never interpreted (a stray `[/bold]` used to crash the table).
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import orjson
import pytest
from rich.console import Console
from typer.testing import CliRunner

from eqlwatch.cli.app import app
from eqlwatch.cli.hunt_table import NOTES_SHOWN, PIPED_WIDTH, _rule, printable
from tests.rules.conftest import minimal_rule

RUNNER = CliRunner()
ALERT_RULE = re.compile(r"─ (?:\x1b\[[0-9;]*m)*alert [0-9a-f]{12}\b")  # a note's rule line
HOSTILE_HOST = "[bold red]ws-1[/] :smile:"
HOSTILE_COMMAND = "regsvr32 [/bold] [link=http://evil.example]click[/link] \x1b[31mred\x1b]0;t\x07"


def _event(n: int, host: str = "ws-1", command_line: str = "regsvr32 /s x.dll") -> bytes:
    return orjson.dumps(
        {
            "@timestamp": f"2026-11-21T11:{n // 60:02d}:{n % 60:02d}.000Z",
            "event": {"category": ["process"], "type": ["start"], "kind": "event"},
            "host": {"name": host},
            "user": {"name": "alice"},
            "process": {"name": "regsvr32.exe", "pid": 100 + n, "command_line": command_line},
        }
    )


def _setup(tmp_path: Path, lines: list[bytes]) -> tuple[Path, Path]:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.toml").write_text(minimal_rule())
    events = tmp_path / "e.ndjson"
    events.write_bytes(b"".join(line + b"\n" for line in lines))
    return rules, events


def _hunt(tmp_path: Path, *args: str) -> str:
    result = RUNNER.invoke(app, ["hunt", "--no-progress", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_piped_output_has_every_row_and_every_note_as_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no templates/ here: the packaged default note
    count = NOTES_SHOWN + 7
    rules, events = _setup(tmp_path, [_event(n) for n in range(count)])
    out = _hunt(tmp_path, "--rules", str(rules), str(events))
    assert f"{count} alert(s)" in out
    assert out.count("2026-11-21T11:") >= count  # a row per alert (time column)
    # Every note, as the Markdown text --format ndjson holds, behind a rule line each.
    assert out.count("# Minimal\n") == count
    assert len(ALERT_RULE.findall(out)) == count
    assert "more note(s) not shown" not in out
    ndjson = _hunt(tmp_path, "--rules", str(rules), "--format", "ndjson", str(events))
    for line in ndjson.splitlines():
        assert printable(orjson.loads(line)["eqlwatch"]["note"]) in out
    none = _hunt(tmp_path, "--rules", str(rules), "--no-notes", str(events))
    assert f"{count} alert(s)" in none
    assert "# Minimal" not in none
    assert not ALERT_RULE.search(none)


def test_event_data_is_never_read_as_markup_emoji_or_terminal_control(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    rules, events = _setup(tmp_path, [_event(0, HOSTILE_HOST, HOSTILE_COMMAND)])
    out = _hunt(tmp_path, "--rules", str(rules), str(events))
    assert "[bold red]ws-1[/] :smile:" in out  # table cell and note, as written
    assert "😄" not in out
    assert "[/bold] [link=http://evil.example]click[/link]" in out
    assert "\x1b" not in out
    assert "\x07" not in out
    assert "\\x1b[31mred\\x1b]0;t\\x07" in out  # shown, escaped


def test_rule_line_is_richs() -> None:
    console = Console(file=io.StringIO(), width=PIPED_WIDTH, color_system=None)
    console.rule("alert 0123456789ab")
    assert isinstance(console.file, io.StringIO)
    assert _rule("alert 0123456789ab", PIPED_WIDTH) == console.file.getvalue()


def test_printable_escapes_controls_only() -> None:
    assert printable("a\tb\nc") == "a\tb\nc"
    assert printable("x\x1b[2Jy\x7f\x9b\r") == "x\\x1b[2Jy\\x7f\\x9b\\x0d"
    assert printable("é İ 😄") == "é İ 😄"


def _at_terminal(tmp_path: Path, *args: str) -> str:
    """`eqlwatch hunt ARGS` with stdout on a pseudo-terminal (200 columns); what it shows."""
    pty = pytest.importorskip("pty", reason="pseudo-terminals are POSIX only")
    master, slave = pty.openpty()
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the terminal's other end is closed: all read
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        env = {**os.environ, "COLUMNS": "200", "LINES": "50", "TERM": "xterm"}
        env.pop("NO_COLOR", None)
        done = subprocess.run(
            [sys.executable, "-m", "eqlwatch", "hunt", "--no-progress", *args],
            stdout=slave,
            stderr=subprocess.PIPE,
            cwd=tmp_path,
            env=env,
            timeout=300,
            check=False,
        )
        os.close(slave)
        reader.join(timeout=60)
    finally:
        os.close(master)
    assert done.returncode == 0, done.stderr.decode()
    return b"".join(chunks).decode(errors="replace")


def test_at_a_terminal_the_first_notes_are_rendered_and_the_rest_counted(
    tmp_path: Path,
) -> None:
    count = NOTES_SHOWN + 5
    rules, events = _setup(tmp_path, [_event(n, HOSTILE_HOST) for n in range(count)])
    shown = _at_terminal(tmp_path, "--rules", str(rules), str(events))
    assert f"{count} alert(s)" in shown
    assert len(ALERT_RULE.findall(shown)) == NOTES_SHOWN
    assert "5 more note(s) not shown: --notes prints every note" in shown
    assert "# Minimal" not in shown  # rendered: a heading, not Markdown source
    assert "[bold red]ws-1[/] :smile:" in shown
    every = _at_terminal(tmp_path, "--rules", str(rules), "--notes", str(events))
    assert len(ALERT_RULE.findall(every)) == count
    assert "more note(s)" not in every
    none = _at_terminal(tmp_path, "--rules", str(rules), "--no-notes", str(events))
    assert f"{count} alert(s)" in none
    assert not ALERT_RULE.search(none)


def test_at_a_terminal_control_characters_in_a_note_are_shown_not_sent(
    tmp_path: Path,
) -> None:
    rules, events = _setup(tmp_path, [_event(0, command_line=HOSTILE_COMMAND)])
    shown = _at_terminal(tmp_path, "--rules", str(rules), str(events))
    assert "\\x1b[31mred" in shown
    assert "\x1b]0;t" not in shown  # the title-setting sequence never reaches the terminal
    assert "\x1b[31mred" not in shown
    assert "http://evil.example" in shown


def test_with_stderr_at_a_terminal_the_progress_bar_runs_and_the_output_is_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bar (rich.progress, imported only when shown) draws on stderr; stdout, piped, is
    the same as with --no-progress."""
    pty = pytest.importorskip("pty", reason="pseudo-terminals are POSIX only")
    monkeypatch.chdir(tmp_path)
    rules, events = _setup(tmp_path, [_event(n) for n in range(3)])
    quiet = _hunt(tmp_path, "--rules", str(rules), str(events))
    master, slave = pty.openpty()
    try:
        env = {**os.environ, "COLUMNS": "120", "TERM": "xterm"}
        done = subprocess.run(
            [sys.executable, "-m", "eqlwatch", "hunt", "--rules", str(rules), str(events)],
            stdout=subprocess.PIPE,
            stderr=slave,
            cwd=tmp_path,
            env=env,
            timeout=300,
            check=False,
        )
        os.close(slave)
        shown = os.read(master, 1 << 20).decode(errors="replace")
    finally:
        os.close(master)
    assert done.returncode == 0
    assert "reading" in shown  # the bar's description was drawn
    assert "3 events, 0 malformed skipped" in re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)
    assert done.stdout.decode() == quiet


def test_ip_ranges_label_alerts_and_a_bad_file_stops_hunt_before_the_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    event = orjson.loads(_event(0))
    event["source"] = {"ip": "203.0.113.5"}
    rules, events = _setup(tmp_path, [orjson.dumps(event)])
    ranges = tmp_path / "ranges.toml"
    ranges.write_text('[[range]]\ncidr = "203.0.113.0/24"\nlabel = "corp-office-net"\n')
    args = ["--rules", str(rules), "--format", "ndjson", str(events)]
    out = _hunt(tmp_path, "--ip-ranges", str(ranges), *args)
    assert "corp-office-net" in out
    assert "corp-office-net" not in _hunt(tmp_path, *args)
    ranges.write_text('[[range]]\ncidr = "203.0.113.0/24"\nlabel = \n')
    for bad in (ranges, tmp_path / "missing.toml"):
        result = RUNNER.invoke(app, ["hunt", "--no-progress", "--ip-ranges", str(bad), *args])
        assert result.exit_code == 2, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert f"error --ip-ranges {bad}" in result.stderr
        assert result.stdout == ""
        assert "events," not in result.stderr  # stopped before reading: no closing summary
