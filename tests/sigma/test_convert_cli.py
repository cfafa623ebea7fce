"""`eqlwatch convert`: the TOML it prints loads back as the same rule; bad input exits 1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from eqlwatch.rules import load_rules
from tests.sigma.test_load import REGSVR32

ROOT = Path(__file__).resolve().parents[2]


def _convert(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "eqlwatch", "convert", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_convert_round_trips(tmp_path: Path) -> None:
    sigma = tmp_path / "sigma" / "rule.yml"
    sigma.parent.mkdir()
    sigma.write_text(REGSVR32, encoding="utf-8")
    proc = _convert(str(sigma))
    assert proc.returncode == 0, proc.stderr
    assert "[eqlwatch]" in proc.stdout
    converted = tmp_path / "toml" / "rule.toml"
    converted.parent.mkdir()
    converted.write_text(proc.stdout, encoding="utf-8")
    from_toml = load_rules([converted])
    from_sigma = load_rules([sigma])
    assert from_toml.errors == ()
    assert from_sigma.errors == ()
    a, b = from_toml.rules[0], from_sigma.rules[0]
    assert (a.rule_id, a.name, a.query) == (b.rule_id, b.name, b.query)
    assert a.ecs_fields == b.ecs_fields


def test_convert_writes_output_file(tmp_path: Path) -> None:
    sigma = tmp_path / "rule.yml"
    sigma.write_text(REGSVR32, encoding="utf-8")
    out = tmp_path / "out.toml"
    proc = _convert(str(sigma), "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert 'name = "Regsvr32 Scriptlet From the Network"' in out.read_text(encoding="utf-8")


def test_convert_refuses_with_file_and_reason(tmp_path: Path) -> None:
    sigma = tmp_path / "rule.yml"
    sigma.write_text(REGSVR32.replace("|contains|windash", "|re").replace("'/i:http'", "'\\bx'"))
    proc = _convert(str(sigma))
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert str(sigma) in proc.stderr
    assert "word boundary" in proc.stderr
    missing = _convert(str(tmp_path / "nope.yml"))
    assert missing.returncode == 1
    assert "cannot read" in missing.stderr
