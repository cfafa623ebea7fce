"""SigmaHQ's regsvr32 rules on the shipped regsvr32 captures, through our Sysmon normaliser.

`exec_sysmon_lobin_regsvr32_sct.evtx` (Squiblydoo: `regsvr32 /u /s /i:http://... scrobj.dll`,
parent and child cmd.exe, a connection to 104.20.208.21:80) fires five SigmaHQ rules.
`exec_sysmon_1_lolbin_renamed_regsvr32_scrobj.evtx` fires none: every SigmaHQ regsvr32 rule
asks for `Image` ending in `\\regsvr32.exe` or `OriginalFileName` REGSVR32.EXE, and this
capture's binary is `C:\\ProgramData\\jabber.exe` from a Sysmon too old to log
OriginalFileName (its Description "Microsoft(C) Register Server" no SigmaHQ rule tests).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import DATA_DIR

ROOT = Path(__file__).resolve().parents[2]
RULES = DATA_DIR / "sigma" / "rules" / "windows"
CAPTURES = DATA_DIR / "evtx-attack-samples" / "evtx" / "Execution"

SQUIBLYDOO_FIRES = {
    "c7e91a02-d771-4a6d-a700-42587e0b1095": "Network Connection Initiated By Regsvr32.EXE",
    "4b991083-3d0e-44ce-8fc4-b254025d8d4b": "Unusual Parent Process For Cmd.EXE",
    "b236190c-1c61-41e9-84b3-3fe03f6d76b0": "Potential Regsvr32 Commandline Flag Anomaly",
    "867356ee-9352-41c9-a8f2-1be690d78216": "Potentially Suspicious Regsvr32 HTTP/FTP Pattern",
    "ab37a6ec-6068-432b-a64e-2c7bf95b1d22": "Scripting/CommandLine Process Spawned Regsvr32",
}

# Names regsvr32 but does not load (`Signed: ''`, an empty value for a boolean field);
# hunt exits 1 for any rule not loaded, so it stays out of this folder.
NOT_LOADED = {"image_load_susp_unsigned_dll.yml"}


def _regsvr32_rules(into: Path) -> int:
    """Copy every vendored rule that names regsvr32 (any case) into `into`."""
    count = 0
    for path in RULES.rglob("*.yml"):
        if path.name in NOT_LOADED:
            continue
        if "regsvr32" in path.read_text(encoding="utf-8").lower():
            shutil.copy(path, into / path.name)
            count += 1
    return count


def _hunt(rules: Path, capture: Path) -> list[dict[str, object]]:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "eqlwatch",
            "hunt",
            "--rules",
            str(rules),
            "--format",
            "ndjson",
            str(capture),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def test_sigmahq_regsvr32_rules_on_the_captures(tmp_path: Path) -> None:
    assert _regsvr32_rules(tmp_path) >= 80
    alerts = _hunt(tmp_path, CAPTURES / "exec_sysmon_lobin_regsvr32_sct.evtx")
    fired = {str(a["eqlwatch"]["rule_id"]): str(a["rule"]["name"]) for a in alerts}  # type: ignore[index]
    assert fired == SQUIBLYDOO_FIRES
    assert len(alerts) == len(SQUIBLYDOO_FIRES)  # one alert each, no repeats
    for alert in alerts:
        assert alert["rule"]["author"]  # type: ignore[index]  # the DRL asks matches keep it
    renamed = _hunt(tmp_path, CAPTURES / "exec_sysmon_1_lolbin_renamed_regsvr32_scrobj.evtx")
    assert renamed == []
