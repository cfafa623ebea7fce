"""The synthetic fixtures: labelled as such, up to date, and each rule's verdict on them.

Behaviours no public capture shows (unsigned DLL loads, bare RegSvcs/RegAsm starts, their
network connections, benign installers) are pinned here in both ECS shapes.
"""

from __future__ import annotations

import importlib.util
import json
from collections import defaultdict
from pathlib import Path
from types import ModuleType

import pytest

from eqlwatch.rules import get_field
from tests.rulepack.conftest import PackRule, fixture_failures, read_events, run_pack

FIXTURES = Path("tests/fixtures/rulepack")
BENIGN = ("defend-benign-registration", "sysmon-benign-registration")
# behaviour → rule that must cover it in both shapes, with a positive and a near miss each
NO_PUBLIC_CAPTURE = {
    "regsvcs_regasm_public_network_connection",
    "regsvcs_regasm_no_arguments",
    "regsvr32_unsigned_dll_load",
}


def _fixture_cases(pack: list[PackRule]) -> list[tuple[str, str, str, int | None]]:
    return [
        (item.key, f.path, f.kind, f.expected_alerts)
        for item in pack
        for f in item.rule.eqlwatch.fixtures
    ]


def _builder(repo_root: Path) -> ModuleType:
    path = repo_root / FIXTURES / "build_fixtures.py"
    spec = importlib.util.spec_from_file_location("rulepack_build_fixtures", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_rule_lists_synthetic_fixtures(pack: list[PackRule]) -> None:
    for item in pack:
        kinds = {f.kind for f in item.rule.eqlwatch.fixtures}
        assert kinds == {"positive", "negative"}, item.key
        assert all(f.synthetic for f in item.rule.eqlwatch.fixtures)


def test_behaviours_without_capture_have_both_shapes(pack_by_key: dict[str, PackRule]) -> None:
    for key in NO_PUBLIC_CAPTURE:
        seen = {
            (Path(f.path).name.split("-")[0], f.kind)
            for f in pack_by_key[key].rule.eqlwatch.fixtures
            if not Path(f.path).stem.endswith("benign-registration")
        }
        assert seen == {(s, k) for s in ("defend", "sysmon") for k in ("positive", "negative")}


def test_fixture_verdicts(pack_by_key: dict[str, PackRule]) -> None:
    """Each rule's alert count on each of its fixtures (positive: as listed, negative: none)."""
    failures = [f for item in pack_by_key.values() for f in fixture_failures(item.rule, item.query)]
    assert not failures


def test_benign_registration_raises_nothing_from_the_whole_pack(
    pack: list[PackRule], repo_root: Path
) -> None:
    for name in BENIGN:
        hits = run_pack(pack, read_events(repo_root / FIXTURES / f"{name}.ndjson"))
        assert {k: len(v) for k, v in hits.items() if v} == {}, name


def test_positive_alerts_come_from_the_fixture_s_own_events(
    pack: list[PackRule], repo_root: Path
) -> None:
    """No cross-talk: every event of a fixture's alerts carries that fixture's case label."""
    for key, path, kind, _want in _fixture_cases(pack):
        if kind != "positive":
            continue
        item = next(p for p in pack if p.key == key)
        for hit in item.query.run(read_events(repo_root / path)):
            cases = {get_field(e.source, "labels.case") for e in hit.events}
            assert cases == {Path(path).stem}


def test_every_document_is_labelled_synthetic(repo_root: Path) -> None:
    files = sorted((repo_root / FIXTURES).glob("*.ndjson"))
    assert len(files) >= 16
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            doc = json.loads(line)
            assert doc["labels"] == {"synthetic": "true", "case": path.stem}
            assert doc["tags"] == ["synthetic"]


def test_both_shapes_are_what_their_indices_expect(repo_root: Path) -> None:
    by_shape: dict[str, set[str]] = defaultdict(set)
    for path in sorted((repo_root / FIXTURES).glob("*.ndjson")):
        for event in read_events(path):
            by_shape[path.name.split("-")[0]].add(event.index)
    assert by_shape["sysmon"] == {"logs-windows.sysmon_operational-default"}
    assert by_shape["defend"] <= {
        f"logs-endpoint.events.{kind}-default" for kind in ("process", "network", "library")
    }


@pytest.mark.parametrize("shape", ["defend", "sysmon"])
def test_fixture_files_match_their_builder(shape: str, repo_root: Path) -> None:
    """The committed NDJSON is what build_fixtures.py writes (no hand edits drift)."""
    builder = _builder(repo_root)
    for name, docs in builder.cases().items():
        if not name.startswith(shape):
            continue
        text = (repo_root / FIXTURES / f"{name}.ndjson").read_text(encoding="utf-8")
        lines = [json.dumps(builder._label(doc, name), sort_keys=True) for doc in docs]
        assert text == "\n".join(lines) + "\n", name
