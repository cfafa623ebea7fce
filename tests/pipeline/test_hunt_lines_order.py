"""The field-tied pairs of `LineRules` are numbered the same in every process: a set's
order changes with the string hash seed. (They once had a Hyperscan database, cached by
its expressions, which every `hunt` over detection-rules' Windows rules compiled again in
21-35 s; `hunt_fields.field_look` now needs none, and the numbering stays stable.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import json
from pathlib import Path
from eqlwatch.pipeline.hunt_lines import LineRules
from eqlwatch.rules import load_rules
from eqlwatch.rules.compiled import compile_rule
rules = load_rules([Path(%r)]).rules
lines = LineRules([compile_rule(r) for r in rules], False)
ids = [[[sorted(g) for g in groups] for groups in rule] for rule in lines.tied_ids]
print(json.dumps({"pair_base": lines.pair_base, "ids": ids}))
"""


def _numbering(seed: str) -> str:
    env = {"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin", "EQLWATCH_CACHE_DIR": "/nonexistent"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT % str(ROOT / "queries")],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return done.stdout


def test_tied_pairs_are_numbered_alike_whatever_the_hash_seed() -> None:
    first = _numbering("1")
    numbering = json.loads(first)
    ids = [i for rule in numbering["ids"] for groups in rule for g in groups for i in g]
    assert sum(i >= numbering["pair_base"] for i in ids) > 1  # the pack has tied pairs
    assert all(_numbering(seed) == first for seed in ("2", "3", "4"))
