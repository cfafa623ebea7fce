"""`*.caseless` multi-fields on local files, evaluated as Elasticsearch evaluates them.

Elastic Defend's templates declare `X.caseless` as a keyword of X with the `lowercase`
normalizer. Elasticsearch indexes X lowercased there and normalizes the query's text for
term-level queries: `==`, `in`, `:`/`like` (wildcard), `regex` (elastic/elasticsearch#80189),
`startsWith`/`endsWith`/`stringContains` on the field. With a mapping the engine reads that
declaration; without one it infers it for any `*.caseless`. Before, the field was absent
locally: positive conditions never matched and negated ones always did (issue 12).
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from eqlwatch.backends.elasticsearch import setup_cluster
from eqlwatch.cli.app import app
from eqlwatch.engine import SourceEvent, compile_query
from eqlwatch.engine.schema import FieldSchema, normalize, parse_mapping
from eqlwatch.settings import RUNS_DATA_STREAM
from tests.backends.es_cluster import fast_client
from tests.fakes.es_eql import eql_search
from tests.fakes.es_project import es_job, es_project
from tests.fakes.es_server import FakeElasticsearch

ROOT = Path(__file__).resolve().parents[2]
CASELESS = {"type": "keyword", "normalizer": "lowercase", "ignore_above": 1024}
MAPPING_DOC: dict[str, Any] = {
    "properties": {
        "@timestamp": {"type": "date"},
        "event": {"properties": {"category": {"type": "keyword"}}},
        "process": {
            "properties": {
                "name": {"type": "keyword", "fields": {"caseless": CASELESS}},
                "executable": {"type": "keyword", "fields": {"caseless": CASELESS}},
                "command_line": {"type": "wildcard", "fields": {"caseless": CASELESS}},
            }
        },
    }
}
MAPPING = parse_mapping(MAPPING_DOC)
GENUINE = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
RENAMED = r"C:\Users\Public\Music\PowerShell.EXE"
GENUINE_UPPER = "process where process.executable.caseless == " + json.dumps(GENUINE.upper())


def event(n: int, executable: str, name: str, command_line: str = "") -> dict[str, Any]:
    return {
        "@timestamp": f"2024-05-01T10:00:{n:02d}.000Z",
        "event": {"category": ["process"], "type": ["start"]},
        "process": {"executable": executable, "name": name, "command_line": command_line},
        "n": n,
    }


EVENTS = [
    event(1, GENUINE, "powershell.exe", "powershell.exe -NoProfile"),
    event(2, GENUINE.upper(), "POWERSHELL.EXE", "POWERSHELL -ENC AAAA"),
    event(3, RENAMED, "PowerShell.EXE", "PowerShell -w hidden -Enc ZQBjAGgAbwA="),
    event(4, r"C:\Windows\System32\cmd.exe", "cmd.exe", "cmd /c whoami"),
]


def ids(query: str, schema: FieldSchema | None) -> list[int]:
    events = [SourceEvent("logs-endpoint.events.process-default", str(e["n"]), e) for e in EVENTS]
    hits = compile_query(query, schema=schema).run(events)
    return [int(h.events[0].source["n"]) for h in hits]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('process where process.name.caseless == "PowerShell.exe"', [1, 2, 3]),
        ('process where process.name == "PowerShell.exe"', []),  # the keyword itself is cased
        (GENUINE_UPPER, [1, 2]),
        ('process where process.name.caseless in ("POWERSHELL.EXE", "pwsh.exe")', [1, 2, 3]),
        ('process where process.name.caseless like "Power*"', [1, 2, 3]),  # pattern normalized
        ('process where process.name.caseless : "*SHELL.exe"', [1, 2, 3]),
        ('process where process.command_line.caseless regex ".*-enc .*"', [2, 3]),
        ('process where process.command_line.caseless regex ".*-Enc .*"', [2, 3]),  # #80189
        ('process where process.command_line.caseless regex ".*ZQBJ.*"', [3]),  # idem
        ('process where startsWith(process.name.caseless, "POWER")', [1, 2, 3]),
        ('process where endsWith(process.executable.caseless, "\\\\POWERSHELL.EXE")', [1, 2, 3]),
        ('process where stringContains(process.command_line.caseless, "-W HIDDEN")', [3]),
        ("process where length(process.name.caseless) == 14", [1, 2, 3]),
        ('process where process.name.caseless != "powershell.exe"', [4]),
        # the false alerts: a negation on a caseless field, on the genuine binary
        (
            'process where process.name : "powershell.exe" and not process.executable.caseless'
            ' : "c:\\\\windows\\\\system32\\\\windowspowershell\\\\v1.0\\\\powershell.exe"',
            [3],
        ),
    ],
)
def test_caseless_fields_mean_the_same_with_a_mapping_and_without(
    query: str, expected: list[int]
) -> None:
    assert ids(query, MAPPING) == expected
    assert ids(query, None) == expected  # inferred: lowercase of the parent


def test_ignore_above_leaves_long_values_unindexed() -> None:
    caseless = {**CASELESS, "ignore_above": 10}
    doc = {"properties": {"process": {"properties": {"name": {
        "type": "keyword", "fields": {"caseless": caseless}}}}}}  # fmt: skip
    short = parse_mapping(doc)
    assert ids('process where process.name.caseless : "cmd.exe"', short) == [4]
    # "powershell.exe" is 14 characters: not indexed, so absent (and its negation holds)
    assert ids('process where process.name.caseless : "powershell.exe"', short) == []
    assert ids('process where not process.name.caseless : "powershell.exe"', short) == [1, 2, 3, 4]


def test_a_mapping_field_wins_over_the_inference() -> None:
    """A mapping that declares X.caseless without a normalizer means exactly that."""
    doc = {"properties": {"process": {"properties": {"name": {
        "type": "keyword", "fields": {"caseless": {"type": "keyword"}}}}}}}  # fmt: skip
    plain = parse_mapping(doc)
    assert ids('process where process.name.caseless == "powershell.exe"', plain) == [1]


def test_lowercase_is_lucenes_per_code_point() -> None:
    assert normalize("lowercase", "POWERSHELL.EXE") == "powershell.exe"
    assert normalize("lowercase", "İSTANBUL") == "istanbul"  # Java: one char, not 'i̇'
    assert normalize("lowercase", "ΟΔΟΣ") == "οδοσ"  # no final-sigma rule
    assert normalize("my_custom_normalizer", "ABC") == "ABC"


# --- property: the engine with and without the mapping, and the stand-in cluster ----------
values = st.text(alphabet="aAbBsS.-*?\\ ", min_size=0, max_size=8)
OPS = ["==", "!=", ":", "like", "in", "regex"]


def _literal(op: str, lit: str) -> str:
    if op == "regex":
        lit = "".join(c for c in lit if c.isalpha() or c == " ") + ".*"
    text = json.dumps(lit)
    return f"({text}, {text.upper()})" if op == "in" else text


@settings(max_examples=200, deadline=None)
@given(st.lists(values, min_size=1, max_size=5), st.sampled_from(OPS), values, st.booleans())
def test_caseless_agrees_with_lowercasing_and_with_the_stand_in(
    names: list[str], op: str, lit: str, negate: bool
) -> None:
    docs: list[dict[str, Any]] = [
        {"@timestamp": f"2024-05-01T10:00:{i:02d}Z", "event": {"category": "process"},
         "process": {"name": name}, "n": i}
        for i, name in enumerate(names)
    ]  # fmt: skip
    cond = f"process.name.caseless {op} {_literal(op, lit)}"
    query = f"process where {'not ' if negate else ''}{cond}"
    events = [SourceEvent("logs", str(d["n"]), d) for d in docs]
    inferred = [h.events[0].id for h in compile_query(query).run(events)]
    mapped = [h.events[0].id for h in compile_query(query, schema=MAPPING).run(events)]
    assert inferred == mapped
    # the same as lowercasing both sides by hand and asking the plain field
    lowered = [{**d, "process": {"name": names[d["n"]].lower()}} for d in docs]
    plain = query.replace("process.name.caseless", "process.name")
    plain = plain.replace(_literal(op, lit), _literal(op, lit).lower())
    by_hand = compile_query(plain).run([SourceEvent("logs", str(d["n"]), d) for d in lowered])
    assert inferred == [h.events[0].id for h in by_hand]
    # and what the stand-in cluster answers with the mapping (its events come back in order)
    body = {"query": query, "size": 100}
    answer = eql_search([("logs", str(d["n"]), d) for d in docs], body, MAPPING)
    assert [e["_id"] for e in answer["hits"]["events"]] == mapped


# --- through the CLI: run --once on the Elasticsearch stand-in vs hunt over the file -------
RULE = """
[metadata]
creation_date = "2026/12/07"
updated_date = "2026/12/07"
maturity = "production"

[rule]
author = ["eqlwatch"]
rule_id = "{rule_id}"
name = "{name}"
description = "caseless test rule"
type = "eql"
language = "eql"
index = ["logs-test-*"]
risk_score = 47
severity = "medium"
license = "AGPL-3.0-or-later"
query = '''
{query}
'''
"""
RULES = {
    "not_genuine.toml": RULE.format(
        rule_id="2f9a4d55-0c57-4c2c-9d36-5f6b3c1f7a01",
        name="PowerShell outside its folder",
        query='process where process.name.caseless == "powershell.exe" and not '
        'process.executable.caseless : "c:\\\\windows\\\\system32\\\\windowspowershell\\\\*"',
    ),
    "encoded.toml": RULE.format(
        rule_id="2f9a4d55-0c57-4c2c-9d36-5f6b3c1f7a02",
        name="Encoded PowerShell",
        query='process where process.command_line.caseless : "* -enc *"',
    ),
}
NOW = datetime(2024, 5, 1, 10, 30, tzinfo=UTC)


def test_elasticsearch_and_local_files_alert_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alerts, state = "logs-eqlwatch.alerts-caseless", "eqlwatch-state-caseless"
    fake = FakeElasticsearch(evaluator=functools.partial(eql_search, schema=MAPPING))
    fake.start()
    try:
        client = fast_client(fake.url)
        setup_cluster(client, alerts_data_stream=alerts, runs_data_stream=RUNS_DATA_STREAM,
                      state_index=state)  # fmt: skip
        client.close()
        docs = [{**e, "_id": f"e{e['n']}"} for e in EVENTS]
        fake.add_events("logs-test-a", docs)
        root = es_project(tmp_path, fake.url, monkeypatch, es_job(alerts, state), RULES)
        result = CliRunner().invoke(
            app, ["run", "--once", "--now", NOW.isoformat(), "--log-format", "json"],
            catch_exceptions=False, env={"COLUMNS": "200"},
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        sent = [r.json()["query"] for r in fake.requests_to("_eql/search")]
        assert any(".caseless" in q for q in sent)
        remote = sorted(
            (s["rule"]["name"], s["eqlwatch"]["events"][0]["id"])
            for _, _, s in fake.store.documents(alerts)
        )
    finally:
        fake.stop()
    assert remote == [
        ("Encoded PowerShell", "e2"),
        ("Encoded PowerShell", "e3"),
        ("PowerShell outside its folder", "e3"),
    ]
    (tmp_path / "data").mkdir()
    data = tmp_path / "data" / "logs-test-a.ndjson"
    data.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    local = subprocess.run(
        [sys.executable, "-m", "eqlwatch", "hunt", "--rules", str(root / "queries"),
         "--format", "ndjson", str(data)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert local.returncode == 0, local.stderr
    found = [json.loads(line) for line in local.stdout.splitlines() if line.strip()]
    assert sorted((a["rule"]["name"], a["eqlwatch"]["events"][0]["id"]) for a in found) == remote
