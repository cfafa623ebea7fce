"""Each rule's note renders from its own template with the alert's facts and the seed's triage."""

from __future__ import annotations

from pathlib import Path

import pytest

from eqlwatch.enrich import Enricher, load_ip_table
from eqlwatch.model import Hit
from eqlwatch.notes import NoteRenderer
from eqlwatch.rules import get_field
from tests.rulepack.conftest import EVTX_SAMPLES, PackRule, read_events

TRIAGE = ("Questions for analysis", "L1", "T2", "ontainment")
NETWORK_RULES = {
    "registration_utility_network_connection",
    "regsvcs_regasm_public_network_connection",
}


@pytest.fixture(scope="module")
def renderer(repo_root: Path) -> NoteRenderer:
    return NoteRenderer(repo_root / "templates")


@pytest.fixture(scope="module")
def enricher() -> Enricher:
    return Enricher(load_ip_table())


def _positive_hits(item: PackRule, repo_root: Path) -> list[Hit]:
    hits: list[Hit] = []
    for fixture in item.rule.eqlwatch.fixtures:
        if fixture.kind == "positive":
            hits.extend(item.query.run(read_events(repo_root / fixture.path)))
    return hits


def _first(hit: Hit, path: str) -> object:
    values = (get_field(e.source, path) for e in hit.events)
    return next((v for v in values if v is not None), None)


def test_every_note_renders_with_the_alert_s_facts(
    pack: list[PackRule], repo_root: Path, renderer: NoteRenderer, enricher: Enricher
) -> None:
    for item in pack:
        hits = _positive_hits(item, repo_root)
        assert hits, item.key
        for hit in hits:
            enrichment = enricher.enrich([e.source for e in hit.events])
            note = renderer.render(item.rule, hit, enrichment, alert={"start": "t0", "end": "t1"})
            assert note.error is None, (item.key, note.error)
            assert note.template == f"{item.key}.md.j2"
            assert note.text.startswith(f"# {item.rule.name}\n")
            assert str(_first(hit, "host.name")) in note.text
            assert str(_first(hit, "process.name")) in note.text
            for heading in TRIAGE:
                assert heading in note.text, (item.key, heading)
            if item.key in NETWORK_RULES:
                for ip in enrichment.public_ips():
                    assert f"| {ip} | public" in note.text
                    assert f"contact {ip}" in note.text or f"to {ip}" in note.text


def test_notes_on_a_real_capture_show_the_tree_and_the_ip_class(
    data_dir: Path, pack_by_key: dict[str, PackRule], renderer: NoteRenderer, enricher: Enricher
) -> None:
    """The pastebin Squiblydoo: parent cmd.exe, child cmd.exe, 104.20.208.21 classed public."""
    path = data_dir / EVTX_SAMPLES / "ndjson/Execution/exec_sysmon_lobin_regsvr32_sct.ndjson.gz"
    events = read_events(path)
    item = pack_by_key["registration_utility_network_connection"]
    (hit,) = item.query.run(events)
    note = renderer.render(item.rule, hit, enricher.enrich([e.source for e in hit.events]))
    assert note.error is None
    assert "- Parent: `cmd.exe`" in note.text
    assert "/i:http://pastebin.com/raw/H4A4iDTA scrobj.dll" in note.text
    assert "| 104.20.208.21 | public" in note.text
    assert "| 10.0.2.15 | private" in note.text
    assert "Process start logged at 2019-05-12T18:35:05.140Z" in note.text
    assert "connection at 2019-05-12T18:35:04.463Z" in note.text


def test_scriptlet_note_names_the_remote_target(
    data_dir: Path, pack_by_key: dict[str, PackRule], renderer: NoteRenderer
) -> None:
    path = (
        data_dir
        / EVTX_SAMPLES
        / "ndjson/Persistence/sysmon_1_persist_bitsjob_SetNotifyCmdLine.ndjson.gz"
    )
    item = pack_by_key["regsvr32_scriptlet_execution"]
    (hit,) = item.query.run(read_events(path))
    note = renderer.render(item.rule, hit)
    assert note.error is None
    target = "https://raw.githubusercontent.com/3gstudent/SCTPersistence/master/calc.sct"
    assert f"**`{target}`**, a remote URL" in note.text
    assert "- Parent: `svchost.exe`" in note.text
