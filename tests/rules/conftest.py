"""Helpers for rule tests: a minimal valid rule text to vary."""

from __future__ import annotations

from pathlib import Path

import pytest

MINIMAL = """
[metadata]
creation_date = "2025/01/01"
maturity = "production"
updated_date = "2025/01/02"

[rule]
author = ["eqlwatch"]
description = "A minimal rule for tests."
index = ["logs-endpoint.events.*"]
language = "eql"
license = "AGPL-3.0-or-later"
name = "Minimal"
risk_score = 47
rule_id = "{rule_id}"
severity = "medium"
tags = ["eqlwatch"]
type = "eql"
query = \'\'\'
process where process.name : "regsvr32.exe"
\'\'\'
"""


def minimal_rule(rule_id: str = "11111111-2222-3333-4444-555555555555", extra: str = "") -> str:
    return MINIMAL.replace("{rule_id}", rule_id) + extra


@pytest.fixture
def rules_data() -> Path:
    return Path(__file__).parent / "data"
