"""A log source eqlwatch does not map is that rule's clear error, never a crash or a guess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _rule(logsource: str) -> str:
    return f"""title: t
id: 00000000-0000-4000-8000-00000000000a
logsource:
{logsource}
detection:
    selection:
        CommandLine|contains: 'curl'
    condition: selection
level: low
"""


@pytest.mark.parametrize(
    ("logsource", "message"),
    [
        ("    product: linux\n    category: process_creation",
         "unsupported log source: product 'linux' (category 'process_creation', service None)"),
        ("    product: macos\n    category: process_creation", "product 'macos'"),
        ("    product: aws\n    service: cloudtrail", "product 'aws'"),
        ("    category: process_creation", "product '(none)'"),
        ("    product: windows", "neither a category nor a service"),
        ("    product: windows\n    service: ldap", "service 'ldap' without a category"),
        ("    product: windows\n    category: clipboard", "category 'clipboard' is not mapped"),
    ],
)  # fmt: skip
def test_validate_names_the_unsupported_log_source(
    logsource: str, message: str, tmp_path: Path
) -> None:
    (tmp_path / "r.yml").write_text(_rule(logsource), encoding="utf-8")
    (tmp_path / "ok.yml").write_text(
        _rule("    product: windows\n    category: process_creation"), encoding="utf-8"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "eqlwatch", "validate", str(tmp_path)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1
    (line,) = [x for x in proc.stderr.splitlines() if "r.yml" in x]
    assert message in line
    assert "unsupported log source" in line
    assert "ok.yml" not in proc.stderr  # the other rule loads
