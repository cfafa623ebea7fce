from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from eqlwatch.alerts import (
    Links,
    alert_id,
    build_alert,
    cap_strings,
    discover_url,
    is_excepted,
    serialize_alert,
    serialize_alerts,
)
from eqlwatch.enrich import Enricher, load_ip_table
from eqlwatch.model import Hit, HitEvent
from eqlwatch.notes.check import synthetic_hit
from eqlwatch.rules import parse_rule
from eqlwatch.rules.model import Rule

NOW = datetime(2025, 6, 1, 10, 5, tzinfo=UTC)


@pytest.fixture(scope="module")
def rule(repo_root: Path) -> Rule:
    path = repo_root / "tests" / "rules" / "data" / "detection_rules_format.toml"
    loaded, errors = parse_rule(path.read_text(), file=str(path))
    assert loaded is not None, errors
    return loaded


@pytest.fixture(scope="module")
def enricher() -> Enricher:
    return Enricher(load_ip_table())


def build(rule: Rule, hit: Hit, enricher: Enricher, links: Links | None = None) -> dict[str, Any]:
    enrichment = enricher.enrich([e.source for e in hit.events if not e.missing])
    alert = build_alert(
        rule, hit, enrichment, "the note", detected_at=NOW, job_id="j1", links=links
    )
    assert alert.rule_id == rule.rule_id
    return dict(alert.document)


def test_alert_id_is_sha256_of_rule_and_ordered_refs() -> None:
    events = (HitEvent("i1", "a", {}), HitEvent("i2", "b", {}))
    expected = hashlib.sha256(
        json.dumps(["r", [["i1", "a"], ["i2", "b"]]], separators=(",", ":")).encode()
    )
    assert alert_id("r", events) == expected.hexdigest()
    assert alert_id("r", events) != alert_id("r", events[::-1])
    assert alert_id("r", events) != alert_id("r2", events)
    # ("i1","a"),("i2","b") must not collide with ("i1","a\u0000i2"),("b",...) style joins
    assert alert_id("r", (HitEvent("i1", "ai2", {}), HitEvent("", "b", {}))) != alert_id(
        "r", events
    )


def test_missing_slots_do_not_change_the_id() -> None:
    present = (HitEvent("i1", "a", {}), HitEvent("i2", "b", {}))
    with_gap = (present[0], HitEvent("", "", {}, missing=True), present[1])
    assert alert_id("r", with_gap) == alert_id("r", present)


def test_document_shape(rule: Rule, enricher: Enricher) -> None:
    hit = synthetic_hit()
    doc = build(rule, hit, enricher, Links(kibana_url="https://kibana.example:5601/"))
    ident = alert_id(rule.rule_id, hit.events)
    assert doc["@timestamp"] == "2025-06-01T10:05:00.000Z"
    assert doc["message"] == rule.name  # External Alerts' rule_name_override
    ev = doc["event"]
    assert ev["kind"] == "alert"
    assert ev["module"] not in ("endgame", "endpoint", "cloud_defend")
    assert ev["severity"] == 21  # low
    assert ev["risk_score"] == 21.0
    assert ev["id"] == ident
    assert ev["start"] == "2025-06-01T10:00:00.000Z"
    assert ev["end"] == "2025-06-01T10:00:03.000Z"
    assert ev["category"] == ["process", "network", "library"]
    assert ev["created"] == "2025-06-01T10:05:00.000Z"
    assert ev["url"].startswith("https://kibana.example:5601/app/discover#/doc/")
    assert doc["rule"]["id"] == doc["rule"]["uuid"] == rule.rule_id
    assert doc["rule"]["version"] == "7"
    assert doc["rule"]["reference"][0] == "https://attack.mitre.org/techniques/T1218/010/"
    assert doc["threat"]["tactic"]["id"] == ["TA0005", "TA0002"]
    assert doc["threat"]["technique"]["id"] == ["T1218"]
    assert doc["threat"]["technique"]["subtechnique"]["id"] == ["T1218.009", "T1218.010"]
    assert doc["tags"] == list(rule.rule.tags)
    assert doc["host"]["name"] == "ws-0042"
    assert doc["user"]["name"] == "alice"
    assert doc["process"]["name"] == "regsvr32.exe"  # the first event's process
    assert doc["destination"]["ip"] == "203.0.113.7"
    assert doc["related"]["ip"] == ["10.1.2.3", "203.0.113.7"]
    assert doc["related"]["user"] == ["alice"]
    assert doc["related"]["hosts"] == ["ws-0042"]
    own = doc["eqlwatch"]
    assert own["alert_id"] == ident
    assert own["job_id"] == "j1"
    assert own["note"] == "the note"
    assert own["kind"] == "sequence"
    assert [e["id"] for e in own["events"]] == ["ev0", "ev1", "ev2", "ev3"]
    assert own["enrichment"]["categories"]["documentation"] == ["203.0.113.7"]


def test_build_is_pure(rule: Rule, enricher: Enricher) -> None:
    hit = synthetic_hit()
    before = copy.deepcopy([dict(e.source) for e in hit.events])
    first = orjson.dumps(build(rule, hit, enricher))
    second = orjson.dumps(build(rule, hit, enricher))
    assert first == second
    assert [dict(e.source) for e in hit.events] == before


def test_sequence_with_missing_slot_and_flat_sources(rule: Rule, enricher: Enricher) -> None:
    flat = {
        "@timestamp": "2025-01-01T00:00:00Z",
        "host.name": "h9",
        "user.name": "u",
        "event.category": "process",
    }
    hit = Hit("sequence", (HitEvent("idx", "x1", flat), HitEvent("", "", {}, missing=True)))
    doc = build(rule, hit, enricher)
    assert doc["host"] == {"name": "h9"}
    assert doc["eqlwatch"]["events"][1] == {"missing": True}
    assert doc["event"]["start"] == doc["event"]["end"] == "2025-01-01T00:00:00Z"
    assert doc["event"]["id"] == alert_id(rule.rule_id, hit.events[:1])
    assert "related" in doc
    assert "ip" not in doc["related"]


def test_discover_url_quotes_and_spaces() -> None:
    plain = discover_url(Links(), ".ds-logs-x-2025.06.01-000001", "a/b c")
    assert (
        plain
        == "/app/discover#/doc/security-solution-default/.ds-logs-x-2025.06.01-000001?id=a%2Fb%20c"
    )
    spaced = discover_url(Links("http://k:5601", data_view_id="dv 1", space="sec"), "i", "d")
    assert spaced == "http://k:5601/s/sec/app/discover#/doc/dv%201/i?id=d"


def test_naive_time_rejected(rule: Rule, enricher: Enricher) -> None:
    hit = synthetic_hit()
    with pytest.raises(ValueError, match="timezone"):
        build_alert(
            rule, hit, enricher.enrich([]), "", detected_at=datetime(2025, 1, 1), job_id="j"
        )


def test_other_timezones_normalised(rule: Rule, enricher: Enricher) -> None:
    later = datetime(2025, 6, 1, 12, 5, tzinfo=timezone(timedelta(hours=2)))
    alert = build_alert(
        rule, synthetic_hit(), enricher.enrich([]), "", detected_at=later, job_id="j"
    )
    assert alert.document["@timestamp"] == "2025-06-01T10:05:00.000Z"


def test_serialise_ndjson(rule: Rule, enricher: Enricher) -> None:
    hit = synthetic_hit()
    enrichment = enricher.enrich([e.source for e in hit.events])
    alert = build_alert(rule, hit, enrichment, "n", detected_at=NOW, job_id="j")
    one = serialize_alert(alert)
    assert orjson.loads(one)["event"]["id"] == alert.id
    lines = serialize_alerts([alert, alert]).splitlines()
    assert lines == [one, one]


def test_exceptions_exposed_here(rule: Rule) -> None:
    assert is_excepted(rule, synthetic_hit()) is False


def test_note_error_is_recorded(rule: Rule, enricher: Enricher) -> None:
    hit = synthetic_hit()
    enrichment = enricher.enrich([])
    plain = build_alert(rule, hit, enrichment, "n", detected_at=NOW, job_id="j")
    assert "note_error" not in plain.document["eqlwatch"]
    failed = build_alert(
        rule, hit, enrichment, "fallback", detected_at=NOW, job_id="j", note_error="boom"
    )
    assert failed.document["eqlwatch"]["note_error"] == "boom"
    assert failed.id == plain.id


def test_related_values_are_distinct_scalars(rule: Rule, enricher: Enricher) -> None:
    sources: list[dict[str, Any]] = [
        {"user": {"name": ["a", "", "b"], "target": {"name": "t"}}, "host": {"name": "h"}},
        {"user": {"name": "a"}, "host": {"name": ""}, "process": {"hash": {"sha256": "ff"}}},
        {"user.name": "c", "dll": {"hash": {"md5": "ee", "other": "x"}}},
    ]
    hit = Hit("sequence", tuple(HitEvent("i", str(n), s) for n, s in enumerate(sources)))
    related = build(rule, hit, enricher)["related"]
    assert related == {"user": ["a", "b", "c", "t"], "hosts": ["h"], "hash": ["ff", "ee"]}


@pytest.mark.parametrize("doc_id", ["abc-DEF_1.2~", "a b", "a/b?c#d", "é", "", "%41"])
def test_discover_url_ids_are_quoted_exactly_as_quote_does(doc_id: str) -> None:
    from urllib.parse import quote

    links = Links(kibana_url="http://k/", space="s")
    url = discover_url(links, "idx", doc_id)
    base = "http://k/s/s/app/discover#/doc/security-solution-default/idx?id="
    assert url == base + quote(doc_id, safe="")


def test_sample_span_is_earliest_to_latest_whatever_the_event_order() -> None:
    """Samples list events in filter order; with clock skew the first is not the earliest."""
    from eqlwatch.hitfacts import time_span

    assert time_span(["2019-05-12T18:35:05.140Z", "2019-05-12T18:35:04.463Z"]) == (
        "2019-05-12T18:35:04.463Z",
        "2019-05-12T18:35:05.140Z",
    )
    assert time_span([1_000, "1970-01-01T00:00:00.500Z"]) == ("1970-01-01T00:00:00.500Z", 1_000)
    assert time_span(["garbage", "2020-01-01T00:00:00Z"]) == ("garbage", "2020-01-01T00:00:00Z")
    assert time_span([]) is None


# --- strings copied from events are capped ---------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


@given(_json, st.integers(min_value=4, max_value=60))
def test_cap_strings_cuts_only_long_strings_and_marks_the_cut(value: Any, limit: int) -> None:
    capped = cap_strings(value, limit)
    before, after = _strings(value), _strings(capped)
    assert len(before) == len(after)
    for old, new in zip(before, after, strict=True):
        size = len(old.encode("utf-8", "surrogatepass"))
        if size <= limit:
            assert new == old
        else:
            kept, marker = new.rsplit("…[truncated ", 1)
            assert old.startswith(kept)
            assert len(kept.encode("utf-8", "surrogatepass")) <= limit
            # whole characters: one more would not have fitted
            assert len(old[: len(kept) + 1].encode("utf-8", "surrogatepass")) > limit
            assert marker == f"{len(old) - len(kept):,} chars]"
    if all(len(s.encode("utf-8", "surrogatepass")) <= limit for s in before):
        assert capped is value  # nothing to cap: no copy
    assert json.dumps(value) == json.dumps(copy.deepcopy(value))  # the input is not changed


def test_build_alert_caps_event_strings_but_keeps_the_rest(rule: Rule) -> None:
    plain = synthetic_hit()
    long = "powershell.exe -enc " + "Q" * 100_000
    first = plain.events[0]
    huge = {**first.source, "process": {**first.source["process"], "command_line": long}}
    events = (HitEvent(index=first.index, id=first.id, source=huge), *plain.events[1:])
    hit = Hit(kind=plain.kind, events=events, join_keys=plain.join_keys)
    enrichment = Enricher(load_ip_table()).enrich([e.source for e in hit.events])
    alert = build_alert(
        rule, hit, enrichment, "note", detected_at=NOW, job_id="j", max_string_bytes=1000
    )
    doc = alert.document
    assert doc["process"]["command_line"] == long[:1000] + "…[truncated 99,020 chars]"
    assert doc["process"]["name"] == "regsvr32.exe"
    assert doc["eqlwatch"]["note"] == "note"
    assert len(serialize_alert(alert)) < 20_000
