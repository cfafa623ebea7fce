"""Sigma rules carry eqlwatch fixtures in an `eqlwatch:` mapping, checked like TOML rules'."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from eqlwatch.rules import load_rules
from tests.sigma.test_load import REGSVR32

ROOT = Path(__file__).resolve().parents[2]
EXECUTION = "tests/data/evtx-attack-samples/evtx/Execution"
FIXTURES = f"""
eqlwatch:
    fixtures:
        - path: {EXECUTION}/exec_sysmon_lobin_regsvr32_sct.evtx
          kind: positive
          alerts: 1
        - path: {EXECUTION}/exec_sysmon_1_lolbin_renamed_regsvr32_scrobj.evtx
          kind: negative
"""


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "eqlwatch", "validate", str(path)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip


def test_fixtures_load_and_validate(tmp_path: Path) -> None:
    rule = tmp_path / "rule.yml"
    rule.write_text(REGSVR32 + FIXTURES, encoding="utf-8")
    (loaded,) = load_rules([rule]).rules
    fixtures = loaded.eqlwatch.fixtures
    assert [(f.kind, f.expected_alerts) for f in fixtures] == [("positive", 1), ("negative", 0)]
    bad = tmp_path / "bad.yml"
    bad.write_text(REGSVR32 + FIXTURES.replace("lobin_regsvr32_sct", "missing"), encoding="utf-8")
    proc = _validate(bad)
    assert proc.returncode == 1
    assert "fixture" in proc.stderr
    assert "not found" in proc.stderr


def test_a_typo_in_the_eqlwatch_mapping_is_an_error(tmp_path: Path) -> None:
    rule = tmp_path / "rule.yml"
    rule.write_text(REGSVR32 + "eqlwatch:\n    fixturs: []\n", encoding="utf-8")
    result = load_rules([rule])
    assert result.rules == ()
    (error,) = result.errors
    assert "fixturs" in str(error)
