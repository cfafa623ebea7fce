"""`hunt`'s default output: a table of the alerts, then their notes.

Rendering a note as Markdown (rich's parser and layout) costs ~6.5 ms: over 202 alerts that
was 1.3 s of a 2.2 s CPU hunt. A person at a terminal reads the table and a few notes, so
there the first `NOTES_SHOWN` notes are rendered and a closing line says how to see the
rest; when stdout is a file or a pipe, every note is written as the Markdown text it is
(what `--format ndjson` holds in `eqlwatch.note`), which costs next to nothing.

Every value comes from event data, so none is read as rich markup or emoji codes, and
control characters (an ESC starting a terminal sequence) are shown escaped, not sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from eqlwatch.model import Alert

NOTES_SHOWN = 20  # rendered notes at a terminal unless --notes asks for all
COLUMNS = ("time", "rule", "severity", "host", "user", "process")
PIPED_WIDTH = 160  # a file has no width; wide enough for a command line's start

# C0 controls but tab and newline, DEL and C1 controls: shown as \xNN.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """`text` with control characters written out, so printing it cannot drive a terminal."""
    if _CONTROL.search(text) is None:  # nearly always: no copy
        return text
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _rule(title: str, width: int) -> str:
    """rich's `Console.rule` as plain text (a tenth of its cost, same line)."""
    side = max(width - len(title) - 2, 0)
    return f"{'─' * (side // 2)} {title} {'─' * (side - side // 2)}\n"


def _cells(alert: Alert) -> Iterable[Text]:
    doc = alert.document
    values = (
        doc.get("event", {}).get("end", ""),
        doc.get("rule", {}).get("name", alert.rule_id),
        doc.get("eqlwatch", {}).get("severity", ""),
        doc.get("host", {}).get("name", ""),
        doc.get("user", {}).get("name", ""),
        str(doc.get("process", {}).get("command_line", ""))[:120],
    )
    return (Text(printable(str(v))) for v in values)


def _note(alert: Alert) -> str:
    return printable(str(alert.document.get("eqlwatch", {}).get("note", "")))


def print_alerts(alerts: list[Alert], notes: bool | None, out: TextIO, terminal: bool) -> None:
    """The table, then the notes: `notes` None shows `NOTES_SHOWN` of them at a terminal and
    all when piped, True all, False none; rendered Markdown at a terminal, text when piped."""
    console = Console(
        file=out,
        width=None if terminal else PIPED_WIDTH,
        markup=False,
        emoji=False,
        highlight=False,
    )
    table = Table(title=f"{len(alerts)} alert(s)")
    for column in COLUMNS:
        table.add_column(column, overflow="fold")
    for alert in alerts:
        table.add_row(*_cells(alert))
    console.print(table)
    if notes is False or not alerts:
        return
    if not terminal:
        for alert in alerts:
            out.write(_rule(f"alert {alert.id[:12]}", PIPED_WIDTH) + _note(alert) + "\n")
        out.flush()
        return
    from rich.markdown import Markdown  # ~30 ms of start-up: only when notes are shown

    shown = alerts if notes else alerts[:NOTES_SHOWN]
    for alert in shown:
        console.rule(f"alert {alert.id[:12]}")
        # hyperlinks off: a link's target is printed beside its text, never hidden behind it
        console.print(Markdown(_note(alert), hyperlinks=False))
    if len(shown) < len(alerts):
        console.print(
            Text(
                f"{len(alerts) - len(shown)} more note(s) not shown: --notes prints every "
                "note, --format ndjson writes every alert with its note",
                style="bold",
            )
        )
