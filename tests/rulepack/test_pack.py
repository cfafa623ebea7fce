"""The pack as rule files: complete metadata, both data shapes, and a CIDR list from the table."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest

from eqlwatch.enrich import load_ip_table, non_public_cidr_match
from eqlwatch.errors import QueryError
from eqlwatch.rules import load_rule_text
from tests.rulepack.conftest import PackRule

INDICES = ("logs-endpoint.events.*", "logs-windows.sysmon_operational-*", "winlogbeat-*")
GENERATED = re.compile(
    r"// BEGIN GENERATED non-public CIDRs\n(?P<body>.*?)// END GENERATED", re.DOTALL
)
EXPECTED_RULES = {
    "registration_utility_network_connection",
    "regsvcs_regasm_public_network_connection",
    "regsvcs_regasm_no_arguments",
    "regsvcs_regasm_suspicious_execution",
    "regsvr32_scriptlet_execution",
    "regsvr32_unusual_path",
    "regsvr32_unsigned_dll_load",
    "regsvr32_renamed",
}


def test_the_pack_has_its_eight_rules(pack: list[PackRule]) -> None:
    assert {item.key for item in pack} == EXPECTED_RULES
    assert len({item.rule.rule_id for item in pack}) == len(pack)


def test_every_rule_is_complete(pack: list[PackRule], repo_root: Path) -> None:
    for item in pack:
        body = item.rule.rule
        assert body.index == INDICES, item.key
        assert body.severity in {"low", "medium", "high", "critical"}
        assert 0 < body.risk_score <= 100
        assert body.references, item.key
        assert body.false_positives, item.key
        techniques = [t.id for threat in body.threat for t in threat.technique]
        assert "T1218" in techniques, item.key
        assert item.rule.eqlwatch.template == f"{item.key}.md.j2"
        assert (repo_root / "templates" / f"{item.key}.md.j2").is_file()


def test_process_starts_exclude_sysmon_image_loads(pack: list[PackRule]) -> None:
    """Sysmon 7 is categorised [process, library] with type [change, start]: not a start."""
    for item in pack:
        query = item.rule.query
        for match in re.finditer(r'event\.type == "start"', query):
            tail = query[match.end() : match.end() + 60]
            assert 'not event.category == "library"' in tail, item.key


@pytest.mark.parametrize(
    "key", ["regsvcs_regasm_public_network_connection", "registration_utility_network_connection"]
)
def test_cidr_exclusion_list_is_what_the_ip_table_emits(
    key: str, pack_by_key: dict[str, PackRule]
) -> None:
    query = pack_by_key[key].rule.query
    match = GENERATED.search(query)
    assert match is not None
    in_rule = re.findall(r'"([^"]+)"', match["body"])
    assert in_rule == load_ip_table().non_public_cidrs()
    from_helper = re.findall(r'"([^"]+)"', non_public_cidr_match("destination.ip"))
    assert in_rule == from_helper


@pytest.mark.parametrize(
    ("ip", "excluded"),
    [
        ("151.101.0.133", False),
        ("104.20.208.21", False),
        ("2606:4700::6810:84e5", False),
        ("10.1.2.3", True),
        ("100.64.1.1", True),
        ("127.0.0.1", True),
        ("224.0.0.251", True),
        ("::1", True),
        ("fe80::1", True),
    ],
)
def test_the_list_excludes_exactly_the_non_public_addresses(ip: str, excluded: bool) -> None:
    """Checked with `ipaddress` against the list, and against the table's own verdict."""
    nets = [ipaddress.ip_network(c) for c in load_ip_table().non_public_cidrs()]
    addr = ipaddress.ip_address(ip)
    assert any(addr.version == n.version and addr in n for n in nets) is excluded
    assert load_ip_table().classify(ip).public is not excluded


@pytest.mark.parametrize("broken", ['process.name : ("regsvr32.exe"', "sample by [process where"])
def test_a_broken_query_is_reported_with_its_file(broken: str, repo_root: Path) -> None:
    """The loader path the pack relies on really compiles queries (not a pass-through)."""
    path = repo_root / "queries" / "regsvr32_renamed.toml"
    text = path.read_text(encoding="utf-8")
    start = text.index("query = '''") + len("query = '''")
    end = text.index("'''", start)
    rule, errors = load_rule_text(text[:start] + broken + text[end:], file=str(path))
    assert rule is None
    assert errors
    assert isinstance(errors[0], QueryError)
    assert errors[0].location is not None
    assert errors[0].location.file == str(path)
