from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from eqlwatch.errors import ConfigError
from eqlwatch.rules import parse_rule
from tests.rules.conftest import minimal_rule


def test_detection_rules_file_loads_unchanged(rules_data: Path) -> None:
    path = rules_data / "detection_rules_format.toml"
    rule, errors = parse_rule(path.read_text(), file=str(path))
    assert errors == []
    assert rule is not None
    assert rule.rule_id == "0d6d2b5e-6f2a-4d6e-9b44-8c7a3a4f0001"
    assert rule.rule.severity == "low"
    assert rule.rule.risk_score == 21
    assert rule.lookback == timedelta(minutes=9)
    assert rule.rule.interval == timedelta(minutes=5)
    assert rule.rule.query.lstrip().startswith("sequence by process.entity_id")
    assert [t.tactic.id for t in rule.rule.threat] == ["TA0005", "TA0002"]
    subs = [s.id for s in rule.rule.threat[0].technique[0].subtechnique]
    assert subs == ["T1218.009", "T1218.010"]
    assert rule.metadata.min_stack_version == "8.14.0"
    # unknown keys are kept, not rejected
    extra = rule.model_extra or {}
    assert extra["transform"]["osquery"][0]["label"].startswith("Osquery")
    body_extra = rule.rule.model_extra or {}
    assert body_extra["investigation_fields"]["field_names"][0] == "host.name"
    assert rule.rule.timestamp_override == "event.ingested"
    assert rule.path == str(path)


def test_template_view_is_plain_data(rules_data: Path) -> None:
    path = rules_data / "detection_rules_format.toml"
    rule, _ = parse_rule(path.read_text(), file=str(path))
    assert rule is not None
    view = rule.template_view
    assert view["from"] == "now-9m"
    assert view["interval"] == "5m"
    assert view["threat"][0]["technique"][0]["id"] == "T1218"
    assert view["metadata"]["maturity"] == "production"
    assert rule.template_view is view  # computed once


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("risk_score = 47", "risk_score = 470", "rule.risk_score"),
        ('severity = "medium"', 'severity = "urgent"', "rule.severity"),
        ('type = "eql"', 'type = "query"', "rule.type"),
        ('rule_id = "11111111-2222-3333-4444-555555555555"\n', "", "rule.rule_id"),
        ('language = "eql"', 'language = "kuery"', "rule.language"),
    ],
)
def test_invalid_field_is_named_with_line(old: str, new: str, field: str) -> None:
    text = minimal_rule().replace(old, new)
    rule, errors = parse_rule(text, file="queries/bad.toml")
    assert rule is None
    assert [e.location.field for e in errors if e.location] == [field]
    err = errors[0]
    assert isinstance(err, ConfigError)
    assert str(err).startswith("queries/bad.toml")
    if new:  # a present key carries its line
        assert err.location is not None
        assert err.location.line is not None
        assert text.splitlines()[err.location.line - 1].startswith(new.split(" ")[0])


def test_type_error_message_is_clear() -> None:
    rule, errors = parse_rule(minimal_rule().replace('type = "eql"', 'type = "query"'), file="x")
    assert rule is None
    assert "only EQL rules" in errors[0].message


def test_bad_duration_names_field() -> None:
    rule, errors = parse_rule(minimal_rule(extra=""), file="x")
    assert rule is not None
    text = minimal_rule().replace('type = "eql"', 'type = "eql"\ninterval = "5 minutes"')
    rule, errors = parse_rule(text, file="x")
    assert rule is None
    assert errors[0].location is not None
    assert errors[0].location.field == "rule.interval"
    assert "invalid duration" in errors[0].message


def test_toml_syntax_error_has_line_and_column() -> None:
    text = minimal_rule().replace('severity = "medium"', "severity = medium")
    rule, errors = parse_rule(text, file="q.toml")
    assert rule is None
    loc = errors[0].location
    assert loc is not None
    assert loc.line is not None
    assert loc.column is not None
    assert text.splitlines()[loc.line - 1].startswith("severity")
    assert "invalid TOML" in errors[0].message


def test_missing_rule_table() -> None:
    rule, errors = parse_rule("[metadata]\nmaturity = 'x'\n", file="q.toml")
    assert rule is None
    assert errors[0].location is not None
    assert errors[0].location.field == "rule"


EXTRAS = """
[eqlwatch]
template = "regsvr32.md.j2"

[[eqlwatch.exceptions]]
field = "process.parent.executable"
values = ["C:\\\\Program Files\\\\*\\\\agent.exe"]
match = "wildcard"

[[eqlwatch.fixtures]]
path = "tests/fixtures/positive.ndjson"
kind = "positive"
synthetic = true
alerts = 2

[[eqlwatch.fixtures]]
path = "tests/fixtures/negative.ndjson"
kind = "negative"
"""


def test_eqlwatch_table() -> None:
    rule, errors = parse_rule(minimal_rule(extra=EXTRAS), file="q.toml")
    assert errors == []
    assert rule is not None
    table = rule.eqlwatch
    assert table.template == "regsvr32.md.j2"
    assert table.exceptions[0].match == "wildcard"
    assert [f.kind for f in table.fixtures] == ["positive", "negative"]
    assert [f.expected_alerts for f in table.fixtures] == [2, 0]
    assert table.fixtures[0].synthetic is True


@pytest.mark.parametrize(
    ("mutation", "field"),
    [
        (('template = "regsvr32.md.j2"', 'templat = "x"'), "eqlwatch.templat"),
        (('kind = "negative"', 'kind = "maybe"'), "eqlwatch.fixtures[1].kind"),
        (('match = "wildcard"', 'match = "regex"'), "eqlwatch.exceptions[0].match"),
        (("alerts = 2", "alerts = 0"), "eqlwatch.fixtures[0]"),
    ],
)
def test_eqlwatch_table_is_strict(mutation: tuple[str, str], field: str) -> None:
    text = minimal_rule(extra=EXTRAS.replace(*mutation))
    rule, errors = parse_rule(text, file="q.toml")
    assert rule is None
    assert errors[0].location is not None
    assert errors[0].location.field == field


def test_invalid_cidr_exception_is_reported() -> None:
    extra = (
        '[[eqlwatch.exceptions]]\nfield = "destination.ip"\n'
        'values = ["10.0.0.0/33"]\nmatch = "cidr"\n'
    )
    rule, errors = parse_rule(minimal_rule(extra=extra), file="q.toml")
    assert rule is None
    assert errors[0].location is not None
    assert errors[0].location.field == "eqlwatch.exceptions[0]"
    assert "CIDR" in errors[0].message


def test_event_fields_prefer_the_rule_then_the_defaults() -> None:
    from eqlwatch.rules import parse_rule

    base = (
        '[rule]\nrule_id = "x"\nname = "n"\ndescription = "d"\ntype = "eql"\n'
        "risk_score = 1\nseverity = \"low\"\nquery = 'any where true'\n"
    )
    plain, _ = parse_rule(base, file="a.toml")
    assert plain is not None
    assert plain.event_fields("ts", "seq", "cat")._asdict() == {
        "timestamp_field": "ts",
        "tiebreaker_field": "seq",
        "event_category_field": "cat",
    }
    own, _ = parse_rule(
        base + 'timestamp_field = "event.created"\nevent_category_override = "event.type"\n',
        file="b.toml",
    )
    assert own is not None
    assert own.event_fields("ts", "seq", "cat") == ("event.created", "seq", "event.type")
