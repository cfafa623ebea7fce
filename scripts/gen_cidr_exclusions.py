"""Rewrite the generated non-public CIDR list in the rule pack from eqlwatch's IP table.

Rules that exclude "not public" destinations carry the list between two marker comments;
this script regenerates it so the query and alert enrichment classify addresses alike.
`tests/rulepack/test_cidr_exclusions.py` fails whenever the list and the table drift.

    uv run python scripts/gen_cidr_exclusions.py            # rewrite in place
    uv run python scripts/gen_cidr_exclusions.py --check    # exit 1 if out of date
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from eqlwatch.enrich import load_ip_table

RULES = (
    "queries/registration_utility_network_connection.toml",
    "queries/regsvcs_regasm_public_network_connection.toml",
)
BLOCK = re.compile(
    r"(?P<head>^(?P<indent>[ \t]*)// BEGIN GENERATED non-public CIDRs\n)"
    r"(?P<body>.*?)"
    r"(?P<tail>^[ \t]*// END GENERATED non-public CIDRs$)",
    re.MULTILINE | re.DOTALL,
)
PER_LINE = 6


def render(cidrs: list[str], indent: str) -> str:
    """The CIDRs as quoted, comma-separated EQL strings, a few per line."""
    quoted = [f'"{c}"' for c in cidrs]
    lines = [", ".join(quoted[i : i + PER_LINE]) for i in range(0, len(quoted), PER_LINE)]
    return ",\n".join(f"{indent}{line}" for line in lines) + "\n"


def regenerate(text: str, cidrs: list[str]) -> str:
    """`text` with every generated block replaced by the current list."""

    def swap(match: re.Match[str]) -> str:
        return match["head"] + render(cidrs, match["indent"]) + match["tail"]

    new, count = BLOCK.subn(swap, text)
    if count == 0:
        raise SystemExit("no generated CIDR block found")
    return new


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parents[1]
    cidrs = load_ip_table().non_public_cidrs()
    stale = []
    for name in RULES:
        path = root / name
        text = path.read_text(encoding="utf-8")
        new = regenerate(text, cidrs)
        if new != text:
            stale.append(name)
            if "--check" not in argv:
                path.write_text(new, encoding="utf-8")
    if stale:
        print(("out of date: " if "--check" in argv else "rewrote: ") + ", ".join(stale))
    return 1 if stale and "--check" in argv else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
