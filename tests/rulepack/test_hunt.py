"""`eqlwatch hunt --rules queries/` on the six original EVTX captures, as a user runs it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from eqlwatch.cli.app import app
from tests.rulepack.conftest import EVTX_SAMPLES, PackRule
from tests.rulepack.test_real_captures import ANSWER_KEY

EVTX_STEMS = {
    "exec_sysmon_lobin_regsvr32_sct",
    "exec_sysmon_1_lolbin_renamed_regsvr32_scrobj",
    "exec_sysmon_1_7_jscript9_defense_evasion",
    "sysmon_1_persist_bitsjob_SetNotifyCmdLine",
    "PanacheSysmon_vs_AtomicRedTeam01",
    "panache_sysmon_vs_EDRTestingScript",
}


@pytest.mark.slow
def test_hunt_prints_the_answer_key_alerts_with_their_own_notes(
    data_dir: Path, repo_root: Path, pack: list[PackRule], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo_root)
    evtx = data_dir / EVTX_SAMPLES / "evtx"
    args = ["hunt", "--rules", "queries", "--format", "ndjson", "--no-progress", str(evtx)]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    docs = [orjson.loads(line) for line in result.output.splitlines() if line.startswith("{")]

    key_of = {item.rule.rule_id: item.key for item in pack}
    got = Counter(key_of[d["rule"]["id"]] for d in docs)
    want = Counter(rule for rule, capture, _needle in ANSWER_KEY if capture in EVTX_STEMS)
    assert got == want
    for doc in docs:
        key = key_of[doc["rule"]["id"]]
        assert doc["eqlwatch"]["template"] == f"{key}.md.j2"
        assert "The note template failed" not in doc["eqlwatch"]["note"]
        assert "### Questions for analysis" in doc["eqlwatch"]["note"]
