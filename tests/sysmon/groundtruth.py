"""Loading Elastic's before/after pairs and comparing the fields eqlwatch claims to produce."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BEATS = "datasets/ecs-ground-truth/elastic-beats/x-pack/winlogbeat/module/sysmon/test/testdata"
EXCERPTS = (
    "datasets/ecs-ground-truth/elastic-beats.excerpts/x-pack/winlogbeat/module/sysmon/test/testdata"
)
OLDER = "datasets/ecs-ground-truth/elastic-beats.older-versions"
INTEGRATION = (
    "datasets/ecs-ground-truth/elastic-integrations/packages/windows/data_stream/"
    "sysmon_operational/_dev/test/pipeline/test-image-loaded-failed-signature.json"
)
_GUID = re.compile(r"^\{[0-9A-Fa-f-]{36}\}$")


@dataclass(frozen=True)
class Pair:
    """One raw input event and the document Elastic's pipeline made of it."""

    name: str  # "<file stem>#<record id>"
    source: str  # "beats" (legacy Winlogbeat module) or "integration" (windows package)
    ecs_version: str
    raw: dict[str, Any]
    expected: dict[str, Any]

    @property
    def stem(self) -> str:
        return self.name.split("#")[0]

    @property
    def event_id(self) -> int:
        return int(self.expected["winlog"]["event_id"])


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _by_record(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(d["winlog"]["record_id"]): d for d in docs}


def _beats_pairs(raw_file: Path, ingest_file: Path, stem: str) -> Iterator[Pair]:
    raws = _by_record(_load(raw_file))
    for expected in _load(ingest_file):
        record = str(expected["winlog"]["record_id"])
        yield Pair(
            name=f"{stem}#{record}",
            source="beats",
            ecs_version=expected["ecs"]["version"],
            raw=raws[record],
            expected=expected,
        )


def all_pairs(shared: Path) -> list[Pair]:
    """Every before/after pair in the ground-truth folder (see its SOURCES.md)."""
    pairs: list[Pair] = []
    beats = shared / BEATS
    for ingest in sorted((beats / "ingest").glob("*.golden.json")):
        stem = ingest.name.removesuffix(".golden.json")
        pairs += _beats_pairs(beats / "collection" / f"{stem}.evtx.golden.json", ingest, stem)
        legacy_raw = beats / f"{stem}.evtx.golden.json"
        if legacy_raw.exists():
            pairs += _beats_pairs(legacy_raw, ingest, f"legacy-raw/{stem}")
    for ingest in sorted((shared / OLDER).glob("*/x-pack/**/ingest/*.golden.json")):
        stem = ingest.name.removesuffix(".golden.json")
        commit = ingest.relative_to(shared / OLDER).parts[0]
        raw = beats / "collection" / f"{stem}.evtx.golden.json"
        pairs += _beats_pairs(raw, ingest, f"older-{commit}/{stem}")
    excerpts = shared / EXCERPTS
    pairs += _beats_pairs(
        excerpts / "collection/sysmon-10.2-dns.evtx.golden.first7.excerpt.json",
        excerpts / "ingest/sysmon-10.2-dns.golden.first7.excerpt.json",
        "sysmon-10.2-dns-excerpt",
    )
    inputs = _load(shared / INTEGRATION)["events"]
    outputs = _load(shared / (INTEGRATION + "-expected.json"))["expected"]
    for n, (raw, expected) in enumerate(zip(inputs, outputs, strict=True)):
        pairs.append(
            Pair(
                name=f"integration/test-image-loaded-failed-signature#{n}",
                source="integration",
                ecs_version=expected["ecs"]["version"],
                raw=raw,
                expected=expected,
            )
        )
    return pairs


def lookup(doc: Mapping[str, Any], dotted: str) -> Any:
    node: Any = doc
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def comparable(value: Any, *, field: str) -> Any:
    """GUIDs compare case-insensitively; `related.*` lists compare as sets."""
    if isinstance(value, str) and _GUID.match(value):
        return value.upper()
    if isinstance(value, Mapping):
        return {k: comparable(v, field=f"{field}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        items = [comparable(v, field=field) for v in value]
        if field.startswith("related."):
            return sorted(items, key=repr)
        return items
    return value
