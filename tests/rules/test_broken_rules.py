"""Broken rules never stop the others: real rule files, damaged at random, then loaded.

Whatever the damage (a truncated file, flipped bytes, a query nested past Python's stack,
values swapped between fields, a pattern no regex engine compiles), loading returns: the
damaged file is named in an error (or loads, when the damage was harmless), and every
intact rule still loads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eqlwatch.rules import load_rules

REPO = Path(__file__).resolve().parents[2]
RULE_FILES = sorted((REPO / "queries").glob("*.toml"))
QUERY = re.compile(r"^query = '''\n.*?\n'''$", re.S | re.M)
ASSIGNMENT = re.compile(r"^([A-Za-z_]+) = (.+)$", re.M)
BAD_PATTERNS = ("a(b", "[z-a]", "a)", "(?P<", "a{2,1}", "[abc", "\\")


def deep_query(depth: int, operator: str) -> str:
    """`process where (a == "x" and (a == "x" and ... true))`, `depth` levels deep."""
    head = "".join(f'(process.name == "x{i}" {operator} ' for i in range(depth))
    return f"process where {head}true{')' * depth}"


@dataclass(frozen=True)
class Damage:
    kind: str
    at: float  # where in the file (0..1)
    size: int  # how much: bytes flipped, nesting depth, pattern index

    def apply(self, text: str) -> bytes:
        raw = text.encode()
        pos = int(self.at * len(raw))
        if self.kind == "truncate":
            return raw[:pos]
        if self.kind == "flip":
            out = bytearray(raw)
            for i in range(self.size):
                j = (pos + 7919 * i) % len(out)
                out[j] ^= 1 << (i % 8)
            return bytes(out)
        if self.kind == "deepen":
            query = deep_query(100 + self.size * 15, "and" if self.size % 2 else "or")
            return QUERY.sub(f"query = '''\n{query}\n'''", text, count=1).encode()
        if self.kind == "regex":
            pattern = BAD_PATTERNS[self.size % len(BAD_PATTERNS)].replace("\\", "\\\\")
            query = f'process where process.name regex "{pattern}"'
            return QUERY.sub(f"query = '''\n{query}\n'''", text, count=1).encode()
        # swap: two single-line assignments exchange their values
        found = list(ASSIGNMENT.finditer(text))
        a = found[pos % len(found)]
        b = found[(pos + self.size + 1) % len(found)]
        if a.start() > b.start():
            a, b = b, a
        return (
            text[: a.start(2)]
            + b.group(2)
            + text[a.end(2) : b.start(2)]
            + a.group(2)
            + text[b.end(2) :]
        ).encode()


damages = st.builds(
    Damage,
    kind=st.sampled_from(["truncate", "flip", "deepen", "regex", "swap"]),
    at=st.floats(0, 1, allow_nan=False),
    size=st.integers(1, 80),
)


def test_real_rule_files_exist() -> None:
    assert len(RULE_FILES) >= 5
    assert all(QUERY.search(p.read_text()) for p in RULE_FILES)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(victim=st.integers(0, len(RULE_FILES) - 1), damage=damages)
def test_damaged_rule_never_stops_the_others(
    tmp_path_factory: pytest.TempPathFactory, victim: int, damage: Damage
) -> None:
    folder = tmp_path_factory.mktemp("rules")
    ids: dict[str, str] = {}
    for i, source in enumerate(RULE_FILES):
        text = source.read_text(encoding="utf-8")
        target = folder / source.name
        if i == victim:
            target.write_bytes(damage.apply(text))
        else:
            target.write_text(text, encoding="utf-8")
            ids[str(target)] = re.search(r'^rule_id = "(.+)"$', text, re.M).group(1)  # type: ignore[union-attr]
    broken = str(folder / RULE_FILES[victim].name)

    result = load_rules([folder])  # must not raise, whatever the damage

    loaded = {r.path: r.rule_id for r in result.rules}
    for path, rule_id in ids.items():
        assert loaded.get(path) == rule_id, (path, [str(e) for e in result.errors])
    assert all(e.location is not None and e.location.file == broken for e in result.errors), [
        str(e) for e in result.errors
    ]
    assert all(s.file == broken for s in result.skipped)
    assert (broken in loaded) != bool(result.errors) or result.skipped
    if damage.kind == "regex":
        (error,) = result.errors
        assert error.location is not None
        assert error.location.field == "rule.query"
        assert error.location.line is not None


@pytest.mark.parametrize("operator", ["and", "or"])
def test_thousand_deep_query_is_that_rules_error(tmp_path: Path, operator: str) -> None:
    source = RULE_FILES[0].read_text(encoding="utf-8")
    deep = QUERY.sub(f"query = '''\n{deep_query(1000, operator)}\n'''", source, count=1)
    (tmp_path / "deep.toml").write_text(deep.replace('rule_id = "', 'rule_id = "deep-'))
    (tmp_path / "ok.toml").write_text(source)
    result = load_rules([tmp_path])
    assert [r.path for r in result.rules] == [str(tmp_path / "ok.toml")]
    (error,) = result.errors
    assert str(error).startswith(f"{tmp_path / 'deep.toml'}:")
    assert "nested too deeply" in str(error)
    assert error.location is not None
    assert error.location.line == deep.splitlines().index("query = '''") + 2
