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

from eqlwatch.cli.validate import rule_root
from eqlwatch.engine import CompiledQuery, SourceEvent, compile_query
from eqlwatch.model import Hit
from eqlwatch.rules import Rule, get_field, load_rules
from eqlwatch.rules.exceptions import is_excepted
from eqlwatch.sysmon import read_windows_events
from tests.conftest import BriefMap

EVTX_SAMPLES = Path("evtx-attack-samples")
# Sigma rules that carry fixtures (an `eqlwatch:` mapping), run by the same runner
SIGMA_SAMPLES = Path("tests/fixtures/sigma")
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


def compiled(rule: Rule) -> CompiledQuery:
    """The rule's query as the pipeline runs it (its event fields, its sample setting)."""
    return compile_query(
        rule.query,
        **rule.event_fields()._asdict(),
        max_samples_per_key=rule.eqlwatch.max_samples_per_key,
    )


def fixture_failures(rule: Rule, query: CompiledQuery) -> list[str]:
    """Where the rule does not do what its fixtures say, one line each; [] when it does.

    Whatever the rule's format (TOML or Sigma), each fixture file (a path from the rule's
    root, as `eqlwatch validate` resolves it) is read through the Sysmon → ECS normaliser and
    the rule run over it; alerts are the hits its exceptions leave. A positive fixture wants
    its `alerts` count (else at least one) and, when listed, each alert's event `_id`s in
    order; a negative one wants none."""
    failures = []
    for fixture in rule.eqlwatch.fixtures:
        path = rule_root(rule) / fixture.path
        alerts = [h for h in query.run(read_events(path)) if not is_excepted(rule, h)]
        want = fixture.expected_alerts
        where = f"{Path(str(rule.path)).name} on {fixture.path}"
        if (want is None and not alerts) or (want is not None and len(alerts) != want):
            failures.append(f"{where}: {len(alerts)} alert(s), want {want}")
        elif fixture.event_ids is not None:
            got = [tuple(e.id for e in h.events if not e.missing) for h in alerts]
            if got != [tuple(ids) for ids in fixture.event_ids]:
                failures.append(f"{where}: alert events {got}, want {fixture.event_ids}")
    return failures


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
def sigma_samples(repo_root: Path) -> list[PackRule]:
    """The Sigma sample rules (`tests/fixtures/sigma/*.yml`), loaded as any rule path is."""
    loaded = load_rules([repo_root / SIGMA_SAMPLES])
    assert loaded.ok, [str(e) for e in loaded.errors]
    return [PackRule(Path(str(r.path)).stem, r, compiled(r)) for r in loaded.rules]


@pytest.fixture(scope="session")
def pack_by_key(pack: list[PackRule]) -> dict[str, PackRule]:
    return BriefMap((item.key, item) for item in pack)
