"""Rule fixtures, whatever the rule's format: the pack's TOML rules and the Sigma samples
(`tests/fixtures/sigma/`, whose fixtures sit in an `eqlwatch:` mapping) go through the same
runner (`conftest.fixture_failures`), and through the CLI as a user would check them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from eqlwatch.cli.validate import rule_root
from eqlwatch.rules import Rule
from tests.rulepack.conftest import SIGMA_SAMPLES, PackRule, fixture_failures

EXECUTION = Path("tests/data/evtx-attack-samples/evtx/Execution")


def test_sigma_samples_carry_positive_and_negative_fixtures(
    sigma_samples: list[PackRule],
) -> None:
    assert sigma_samples
    for item in sigma_samples:
        assert str(item.rule.path).endswith(".yml")
        kinds = [f.kind for f in item.rule.eqlwatch.fixtures]
        assert "positive" in kinds, item.key
        assert "negative" in kinds, item.key


def test_sigma_fixture_verdicts(sigma_samples: list[PackRule]) -> None:
    failures = [f for item in sigma_samples for f in fixture_failures(item.rule, item.query)]
    assert not failures


def test_the_runner_fails_a_rule_its_fixtures_contradict(sigma_samples: list[PackRule]) -> None:
    """Swap the verdicts (and the expected ids) and every fixture must be reported."""
    item = sigma_samples[0]
    fixtures = item.rule.eqlwatch.fixtures
    swapped = tuple(
        f.model_copy(update={"kind": "negative" if f.kind == "positive" else "positive",
                             "alerts": None, "event_ids": None})
        for f in fixtures
    )  # fmt: skip
    wrong_ids = tuple(
        f.model_copy(update={"event_ids": (("not-an-id",),)}) if f.event_ids else f
        for f in fixtures
    )
    for broken in (swapped, wrong_ids):
        rule: Rule = item.rule.model_copy(
            update={"eqlwatch": item.rule.eqlwatch.model_copy(update={"fixtures": broken})}
        )
        failures = fixture_failures(rule, item.query)
        changed = sum(a != b for a, b in zip(broken, fixtures, strict=True))
        assert len(failures) == changed, failures


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "eqlwatch", *args],
        capture_output=True, text=True, cwd=cwd, timeout=300,
    )  # fmt: skip


def test_through_the_cli(sigma_samples: list[PackRule], repo_root: Path) -> None:
    """`validate` accepts the sample folder and its fixture paths; `hunt` over each fixture
    file raises exactly the alerts the fixture asks for."""
    proc = _cli("validate", str(SIGMA_SAMPLES), cwd=repo_root)
    assert proc.returncode == 0, proc.stderr
    assert "0 error(s)" in proc.stdout
    for item in sigma_samples:
        for fixture in item.rule.eqlwatch.fixtures:
            path = rule_root(item.rule) / fixture.path
            proc = _cli("hunt", "--rules", str(SIGMA_SAMPLES), "--format", "ndjson", str(path),
                        cwd=repo_root)  # fmt: skip
            assert proc.returncode == 0, proc.stderr
            alerts = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
            want = fixture.expected_alerts
            assert len(alerts) == want if want is not None else alerts, fixture.path
            if fixture.event_ids is not None:
                got = [tuple(e["id"] for e in a["eqlwatch"]["events"]) for a in alerts]
                assert got == [tuple(ids) for ids in fixture.event_ids]


def test_validate_reports_a_sigma_fixture_that_is_gone(repo_root: Path, tmp_path: Path) -> None:
    text = (repo_root / SIGMA_SAMPLES / "regsvr32_scriptlet_network.yml").read_text("utf-8")
    rule = tmp_path / "rule.yml"
    rule.write_text(text.replace("../rulepack/", "../nowhere/"), encoding="utf-8")
    proc = _cli("validate", str(rule), cwd=repo_root)
    assert proc.returncode == 1
    assert "eqlwatch.fixtures[1].path" in proc.stderr
    assert "not found" in proc.stderr
