"""Every before/after pair Elastic publishes: eqlwatch must map raw Sysmon as Elastic does.

The fields eqlwatch claims to produce are listed in CLAIMED and compared on every pair
(present on one side only counts as a difference). Fields Elastic's documents carry that
eqlwatch does not produce are in NOT_PRODUCED with the reason. Known, deliberate
differences for particular pairs are in `_deviation`, each with its reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from eqlwatch.sysmon import to_ecs
from tests.conftest import GROUND_TRUTH_DIR, SHARED_DIR
from tests.sysmon.groundtruth import Pair, all_pairs, comparable, lookup

CLAIMED = """
@timestamp event.kind event.code event.category event.type event.action event.provider
event.created host.name log.level rule.name
process.entity_id process.pid process.executable process.name process.command_line
process.args process.args_count process.working_directory process.thread.id
process.parent.entity_id process.parent.pid process.parent.executable process.parent.name
process.parent.command_line process.parent.args process.parent.args_count
process.pe.original_file_name process.pe.company process.pe.description
process.pe.file_version process.pe.product process.pe.imphash
process.hash.md5 process.hash.sha1 process.hash.sha256
file.path file.name file.directory file.extension file.hash.md5 file.hash.sha1
file.hash.sha256 file.pe.imphash file.pe.original_file_name file.pe.company
file.pe.description file.pe.file_version file.pe.product
file.code_signature.subject_name file.code_signature.status file.code_signature.valid
file.code_signature.trusted
dll.path dll.name dll.hash.md5 dll.hash.sha1 dll.hash.sha256 dll.pe.imphash
dll.pe.original_file_name dll.code_signature.status dll.code_signature.subject_name
source.ip source.port source.domain destination.ip destination.port destination.domain
network.transport network.protocol network.direction network.type network.community_id
dns.question.name dns.question.registered_domain dns.question.subdomain
dns.question.top_level_domain dns.answers dns.resolved_ip
registry.path registry.hive registry.key registry.value registry.data.strings
registry.data.type
user.id user.name user.domain related.ip related.user related.hash related.hosts
sysmon.dns.status sysmon.file.archived sysmon.file.is_executable
winlog.event_id winlog.channel winlog.computer_name winlog.provider_name
winlog.provider_guid winlog.record_id winlog.process.pid winlog.process.thread.id
winlog.user.identifier winlog.version winlog.event_data
""".split()  # noqa: SIM905 - one readable block

NOT_PRODUCED = {
    "message": "the rendered event text needs the provider's message table; only the "
    "ProcessTampering Type (Sysmon 25) is mapped, as Elastic does (checked below)",
    "winlog.task": "rendered from the publisher's metadata by Winlogbeat; passed through "
    "when the input carries it, never made up",
    "winlog.opcode": "rendered by Winlogbeat; only opcode 0 is known to render as 'Info'",
    "winlog.user.name": "SID lookup on the collecting host; not in the raw record",
    "winlog.user.domain": "SID lookup on the collecting host; not in the raw record",
    "winlog.user.type": "SID lookup on the collecting host; not in the raw record",
    "winlog.api": "the name of the Windows API Winlogbeat read with",
    "event.module": "set by the legacy Winlogbeat sysmon module only",
    "event.ingested": "the time of ingest, volatile",
    "ecs.version": "differs by pipeline generation; eqlwatch writes 8.17.0",
    "event.original": "the raw XML is not kept",
}

_LEGACY_IMAGE_LOAD = {
    "event.category", "event.type", "event.action", "file.code_signature.trusted",
    "dll.path", "dll.name", "dll.hash.md5", "dll.hash.sha1", "dll.hash.sha256",
    "dll.pe.imphash", "dll.pe.original_file_name", "dll.code_signature.status",
    "dll.code_signature.subject_name",
}  # fmt: skip
# Newer public suffix lists than the one Elastic had then: these names now split elsewhere.
_PSL_DRIFT = {"sysmon-10.2-dns-excerpt#68", "sysmon-10.2-dns-excerpt#71"}
_HASH_SHA256 = {"process.hash.sha256", "file.hash.sha256"}
_DNS_PARTS = {
    "dns.question.registered_domain",
    "dns.question.subdomain",
    "dns.question.top_level_domain",
}


def _deviation(pair: Pair, field: str) -> str | None:
    """Why eqlwatch deliberately differs from this pair on this field, or None."""
    if pair.source == "beats" and field == "event.created":
        return "the legacy Winlogbeat module does not set event.created; the integration does"
    old_generation = pair.source == "beats" and pair.ecs_version == "1.12.0"
    if old_generation and field == "event.action" and pair.event_id != 4:  # 4: same text
        return "the older generation copied the task text; eqlwatch uses the integration table"
    if pair.source == "beats" and pair.event_id == 7 and field in _LEGACY_IMAGE_LOAD:
        return "the legacy module maps image loads to file.* only, category [process]"
    if pair.source == "beats" and pair.event_id == 26 and field in _HASH_SHA256:
        return "the legacy module puts Sysmon 26 hashes on process.hash; the integration on file"
    if pair.name in _PSL_DRIFT and field in _DNS_PARTS:
        return "public suffix list drift (akamaized.net and fastly.net entries changed since)"
    if pair.stem == "sysmon-no-evtx" and field == "@timestamp":
        return "UtcTime '2000-01-01T00:00:00.000' fails Elastic's date format; eqlwatch reads it"
    if pair.source == "integration" and field == "host.name":
        return "Elastic Agent adds host.name after the pipeline; eqlwatch takes it from Computer"
    return None


# Parametrisation needs the pairs at collection time: the same folder `shared_dir` gives.
# Without it (Elastic License 2.0 data, not shipped) every test here skips naming it.
pytestmark = pytest.mark.needs_shared
PAIRS = all_pairs(SHARED_DIR) if GROUND_TRUTH_DIR.is_dir() else []


def _leaves(doc: dict[str, Any], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and name != "winlog.event_data":
            out |= _leaves(value, f"{name}.")
        else:
            out.add(name)
    return out


def test_pairs_cover_the_ground_truth(shared_dir: Path) -> None:
    pairs = all_pairs(shared_dir)
    assert len(pairs) == len(PAIRS) >= 59
    ids = {p.event_id for p in pairs}
    assert {1, 2, 3, 4, 5, 7, 13, 16, 22, 23, 24, 25, 26} <= ids


def test_every_expected_field_is_claimed_or_named() -> None:
    seen = set().union(*(_leaves(p.expected) for p in PAIRS))
    unexplained = seen - set(CLAIMED) - set(NOT_PRODUCED)
    assert not unexplained


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: p.name)
def test_claimed_fields_match_elastic(pair: Pair) -> None:
    got = to_ecs(pair.raw)
    differences = {}
    for field in CLAIMED:
        mine = comparable(lookup(got, field), field=field)
        theirs = comparable(lookup(pair.expected, field), field=field)
        if mine != theirs and _deviation(pair, field) is None:
            differences[field] = (mine, theirs)
    assert differences == {}


def test_every_deviation_is_still_needed() -> None:
    """A listed deviation that no longer differs must be removed from the list."""
    used = 0
    for pair in PAIRS:
        got = to_ecs(pair.raw)
        for field in CLAIMED:
            if _deviation(pair, field) is None:
                continue
            mine = comparable(lookup(got, field), field=field)
            theirs = comparable(lookup(pair.expected, field), field=field)
            used += 1
            assert mine != theirs, (pair.name, field)
    assert used > 0


def test_process_tampering_type_becomes_message() -> None:
    pairs = [p for p in PAIRS if p.event_id == 25]
    assert pairs
    for pair in pairs:
        assert to_ecs(pair.raw)["message"] == pair.expected["message"]
