from __future__ import annotations

from typing import Any

import pytest

from eqlwatch.model import Hit, HitEvent
from eqlwatch.rules import get_field, is_excepted, matching_exception, parse_rule
from eqlwatch.rules.model import Rule
from tests.rules.conftest import minimal_rule


def rule_with(*entries: str) -> Rule:
    extra = "".join(f"\n[[eqlwatch.exceptions]]\n{e}\n" for e in entries)
    rule, errors = parse_rule(minimal_rule(extra=extra), file="q.toml")
    assert errors == [], errors
    assert rule is not None
    return rule


def hit(*sources: dict[str, Any], missing_last: bool = False) -> Hit:
    events = [HitEvent(index="idx", id=str(i), source=s) for i, s in enumerate(sources)]
    if missing_last:
        events.append(HitEvent(index="", id="", source={"x": "y"}, missing=True))
    return Hit(kind="sequence" if len(events) > 1 else "event", events=tuple(events))


def test_get_field_nested_flat_and_mixed() -> None:
    src = {"process": {"parent.name": "a.exe", "name": "b.exe"}, "host.name": "h1"}
    assert get_field(src, "process.parent.name") == "a.exe"
    assert get_field(src, "process.name") == "b.exe"
    assert get_field(src, "host.name") == "h1"
    assert get_field(src, "host.id") is None
    assert get_field(src, "process.name.x", "d") == "d"


def test_equals_is_exact_and_case_sensitive() -> None:
    rule = rule_with('field = "user.name"\nvalues = ["svc_backup"]')
    assert is_excepted(rule, hit({"user": {"name": "svc_backup"}}))
    assert not is_excepted(rule, hit({"user": {"name": "SVC_BACKUP"}}))
    assert not is_excepted(rule, hit({"user": {"name": "svc_backup2"}}))
    assert not is_excepted(rule, hit({"host": {"name": "svc_backup"}}))


def test_wildcard_is_case_insensitive_glob() -> None:
    rule = rule_with(
        'field = "process.parent.executable"\n'
        'values = ["C:\\\\Program Files\\\\*\\\\agent?.exe"]\nmatch = "wildcard"'
    )
    yes = {"process": {"parent": {"executable": "c:\\program files\\Vendor\\AGENT2.exe"}}}
    no = {"process": {"parent": {"executable": "c:\\temp\\agent2.exe"}}}
    assert is_excepted(rule, hit(no, yes))
    assert not is_excepted(rule, hit(no))


def test_cidr_matches_ip_and_ignores_non_ips() -> None:
    rule = rule_with(
        'field = "destination.ip"\nvalues = ["203.0.113.0/24", "2001:db8::/32"]\nmatch = "cidr"'
    )
    assert is_excepted(rule, hit({"destination": {"ip": "203.0.113.9"}}))
    assert is_excepted(rule, hit({"destination": {"ip": "2001:db8::1"}}))
    assert not is_excepted(rule, hit({"destination": {"ip": "198.51.100.1"}}))
    assert not is_excepted(rule, hit({"destination": {"ip": "not-an-ip"}}))


def test_list_values_and_numbers() -> None:
    rule = rule_with('field = "destination.port"\nvalues = [443, 8443]')
    assert is_excepted(rule, hit({"destination": {"port": 8443}}))
    rule2 = rule_with('field = "process.args"\nvalues = ["/s"]')
    assert is_excepted(rule2, hit({"process": {"args": ["regsvr32.exe", "/s", "x.dll"]}}))


def test_missing_events_are_not_consulted() -> None:
    rule = rule_with('field = "x"\nvalues = ["y"]')
    assert not is_excepted(rule, hit({"a": 1}, missing_last=True))


def test_any_entry_suppresses_and_reports_which() -> None:
    rule = rule_with(
        'field = "a"\nvalues = ["1"]', 'field = "b"\nvalues = ["2"]\ndescription = "b rule"'
    )
    found = matching_exception(rule, hit({"b": "2"}))
    assert found is not None
    assert found.description == "b rule"
    assert matching_exception(rule, hit({"a": "2", "b": "1"})) is None


def test_no_exceptions_means_never_excepted() -> None:
    rule, _ = parse_rule(minimal_rule(), file="q")
    assert rule is not None
    assert not is_excepted(rule, hit({"anything": "goes"}))


@pytest.mark.parametrize("bad", ["values = []", 'values = ["x"]\nfield = ""'])
def test_invalid_entries(bad: str) -> None:
    extra = (
        f'\n[[eqlwatch.exceptions]]\nfield = "f"\n{bad}\n'
        if "field" not in bad
        else f"\n[[eqlwatch.exceptions]]\n{bad}\n"
    )
    rule, errors = parse_rule(minimal_rule(extra=extra), file="q.toml")
    assert rule is None
    assert errors
