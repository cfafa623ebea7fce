"""The rule pack, run through the project's own pipeline pieces.

Events are read and normalised by `eqlwatch.sysmon`, rules loaded by `eqlwatch.rules`,
queries compiled and run by `eqlwatch.engine`; nothing here re-implements any of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from eqlwatch.engine import CompiledQuery, SourceEvent, compile_query
from eqlwatch.model import Hit
from eqlwatch.rules import Rule, get_field, load_rules
from eqlwatch.sysmon import read_windows_events

EVTX_SAMPLES = Path("evtx-attack-samples")
EQLLIB = Path("eqllib-atomic/sysmon-atomic-red-team.json.gz")


@dataclass(frozen=True)
class PackRule:
    """A loaded rule with its compiled query; `key` is the file stem (the rule's short name)."""

    key: str
    rule: Rule
    query: CompiledQuery


def read_events(path: Path) -> list[SourceEvent]:
    """Every event of a file or folder, normalised to ECS; unreadable records fail the test."""
    problems: list[str] = []
    events = [
        SourceEvent(ev.index, ev.id, ev.source)
        for ev in read_windows_events(path, on_error=lambda err: problems.append(str(err)))
    ]
    assert not problems, problems[:5]
    return events


def run_pack(pack: Iterable[PackRule], events: list[SourceEvent]) -> dict[str, list[Hit]]:
    """Each rule's hits over the same events (rule key → hits, empty lists kept)."""
    return {item.key: item.query.run(events) for item in pack}


def describe(hit: Hit) -> tuple[str, ...]:
    """What identifies a hit for a human: each event's command line, else its destination."""
    out: list[str] = []
    for event in hit.events:
        src: Mapping[str, Any] = event.source
        value = get_field(src, "process.command_line") or get_field(src, "destination.ip")
        out.append(str(value if value is not None else get_field(src, "dll.path")))
    return tuple(out)


@pytest.fixture(scope="session")
def pack(repo_root: Path) -> list[PackRule]:
    loaded = load_rules([repo_root / "queries"])
    assert loaded.ok, [str(e) for e in loaded.errors]
    out = []
    for rule in loaded.rules:
        query = compile_query(rule.query, **rule.event_fields()._asdict())
        out.append(PackRule(Path(str(rule.path)).stem, rule, query))
    return out


@pytest.fixture(scope="session")
def pack_by_key(pack: list[PackRule]) -> dict[str, PackRule]:
    return {item.key: item for item in pack}
