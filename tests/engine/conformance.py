"""Loads Elasticsearch's EQL QA specs and indices the way its own harness does.

Harness rules (from tests/data/conformance/README.md) live here, not in the engine:
FILETIME -> @timestamp for endgame-140, `//` comment lines in data, bare `null` join keys
in test_extra.toml, the per-index event id field, and -1 for a missing-event slot.

`endgame-140-nanos` is built as Elasticsearch's DataLoader builds it: the same documents,
their FILETIME read as nanoseconds since 1970 and written as an `epoch_millis` text with
the sub-millisecond digits as a fraction, under a `date_nanos` mapping. Its specs are
`test_queries_date_nanos.toml` and `test_queries.toml` (EqlDateNanosSpecTestCase).
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from eqlwatch.engine import FieldSchema, Hit, SourceEvent, load_mapping

FILETIME_EPOCH_MS = 11644473600000


@dataclass(frozen=True)
class Suite:
    indices: tuple[str, ...]
    id_field: str
    tiebreaker: str | None


SUITES = {
    "test_queries.toml": Suite(("endgame-140",), "serial_event_id", "serial_event_id"),
    "additional_test_queries.toml": Suite(("endgame-140",), "serial_event_id", "serial_event_id"),
    "test_queries_date.toml": Suite(("endgame-140",), "serial_event_id", "serial_event_id"),
    "test_extra.toml": Suite(("extra",), "sequence", "sequence"),
    "test_missing_events.toml": Suite(("missing-events",), "sequence", "sequence"),
    "test_sample.toml": Suite(("sample1", "sample2", "sample3"), "id", None),
}
NANOS_SUITE = Suite(("endgame-140-nanos",), "serial_event_id", "serial_event_id")
NANOS_SPECS = ("test_queries_date_nanos.toml", "test_queries.toml")
# Elasticsearch PR #76953 (nanosecond sequences, 2021) changed this query's maxspan from
# 500ms to 50ms so that one expectation, [], holds on both indices: on the nanos index the
# sequences span ~50.9 ms (100 ns FILETIME ticks read as 1 ns), inside 500ms. Our copy of
# test_queries.toml predates that change; the nanos run applies it.
NANOS_SPEC_CHANGES = {"sequencesOnDifferentEventTypes7": ("maxspan=500ms", "maxspan=50ms")}


@dataclass(frozen=True)
class Case:
    spec: str
    name: str
    query: str
    expected: list[list[int]]  # alternatives
    join_keys: list[str]
    size: int
    max_samples_per_key: int

    @property
    def id(self) -> str:
        return f"{self.spec.removesuffix('.toml')}::{self.name}"


def _fix_bare_null(text: str) -> str:
    """test_extra.toml writes null join keys as a bare `null`, which TOML rejects."""
    lines = []
    for line in text.splitlines():
        if line.lstrip().startswith("join_keys"):
            line = re.sub(r"(?<![\w\"])null(?![\w\"])", '"null"', line)
        lines.append(line)
    return "\n".join(lines)


def load_cases(conformance: Path, specs: tuple[str, ...] = tuple(SUITES)) -> list[Case]:
    cases: list[Case] = []
    for spec in specs:
        doc = tomllib.loads(_fix_bare_null((conformance / spec).read_text(encoding="utf-8")))
        for q in doc["queries"]:
            expected = q["expected_event_ids"]
            alternatives = expected if expected and isinstance(expected[0], list) else [expected]
            cases.append(
                Case(
                    spec,
                    q["name"],
                    q["query"].strip(),
                    alternatives,
                    [str(k) for k in q.get("join_keys", [])],
                    int(q.get("size", 50)),
                    int(q.get("max_samples_per_key", 1)),
                )
            )
    return cases


def load_nanos_cases(conformance: Path) -> list[Case]:
    """The cases Elasticsearch runs on endgame-140-nanos, with `NANOS_SPEC_CHANGES`."""
    cases = []
    for case in load_cases(conformance, NANOS_SPECS):
        change = NANOS_SPEC_CHANGES.get(case.name)
        if change is not None and case.spec == "test_queries.toml":
            assert change[0] in case.query
            case = replace(case, query=case.query.replace(*change))
        cases.append(replace(case, spec="nanos:" + case.spec))
    return cases


def filetime_as_nanos(doc: dict[str, Any]) -> None:
    """Elasticsearch's `timestampToUnixNanos`: the FILETIME digits as epoch ns, written as
    `<millis>.<nanos of milli>` (no fraction when it is zero); `timestamp` becomes ms."""
    digits = str(doc["timestamp"])
    millis, fraction = digits[:12], digits[12:]
    doc["@timestamp"] = millis if fraction == "000000" else f"{millis}.{fraction}"
    doc["timestamp"] = doc["timestamp"] // 1_000_000


@cache
def load_index(data_dir: Path, index: str) -> tuple[list[SourceEvent], FieldSchema]:
    if index == "endgame-140-nanos":
        events, _ = load_index(data_dir, "endgame-140")
        nanos = []
        for ev in events:
            doc = {k: v for k, v in ev.source.items() if k != "@timestamp"}
            filetime_as_nanos(doc)
            nanos.append(SourceEvent(index, ev.id, doc))
        return nanos, load_mapping(data_dir / f"{index}.mapping")
    text = (data_dir / f"{index}.data").read_text(encoding="utf-8")
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))
    docs: list[dict[str, Any]] = json.loads(text)
    events = []
    for pos, doc in enumerate(docs, 1):
        if index == "endgame-140":
            doc["@timestamp"] = doc["timestamp"] // 10000 - FILETIME_EPOCH_MS
        events.append(SourceEvent(index, str(pos), doc))
    return events, load_mapping(data_dir / f"{index}.mapping")


def load_suite(data_dir: Path, suite: Suite) -> tuple[list[SourceEvent], FieldSchema]:
    events: list[SourceEvent] = []
    schemas: dict[str, FieldSchema] = {}
    for index in suite.indices:
        evs, schema = load_index(data_dir, index)
        events.extend(evs)
        schemas[index] = schema
    if len(schemas) == 1:
        return events, next(iter(schemas.values()))
    return events, FieldSchema(indices=schemas)


def event_ids(hits: list[Hit], id_field: str) -> list[int]:
    return [-1 if e.missing else int(e.source[id_field]) for h in hits for e in h.events]


def key_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def join_key_texts(hits: list[Hit]) -> list[str]:
    return [key_text(k) for h in hits for k in h.join_keys]
