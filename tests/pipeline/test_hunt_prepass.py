"""The pass before the scan drops sequences one of whose stages no line can fill: their
common stage's lines are then not parsed, hits stay the same, and a file that changes
between that pass and the end of the scan is reported."""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.engine.needles import Sample
from eqlwatch.errors import DataError
from eqlwatch.pipeline import hunt_prepass
from eqlwatch.pipeline.hunt import hunt_files
from tests.pipeline.doubles import make_rule

SEQUENCE = (
    "sequence by k with maxspan=1m "
    '[process where process.name == "cmd.exe"] [network where destination.domain == "rare.example"]'
)


def _event(second: int, **fields: Any) -> dict[str, Any]:
    return {"@timestamp": f"2026-01-01T00:00:{second:02d}Z", "k": "h1", **fields}


def _write(path: Path, docs: list[dict[str, Any]], extra: bytes = b"") -> None:
    path.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs) + extra)


STARTS = [_event(i, event={"category": "process"}, process={"name": "cmd.exe"}) for i in range(40)]
RARE = _event(45, event={"category": "network"}, destination={"domain": "rare.example"})


def test_a_sequence_whose_rare_stage_is_nowhere_parses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "e.ndjson"
    _write(path, STARTS)
    rules = [make_rule(SEQUENCE, rule_id="seq")]
    result = hunt_files(rules, [path])
    assert result.counts.parsed == 0
    assert result.counts.events == 40
    assert [found for _, found in result.hits] == [[]]


def test_with_the_rare_stage_present_the_same_hits_as_the_plain_path(tmp_path: Path) -> None:
    path = tmp_path / "e.ndjson"
    _write(path, [*STARTS, RARE])
    rules = [make_rule(SEQUENCE, rule_id="seq")]
    screened, plain = hunt_files(rules, [path]), hunt_files(rules, [path], screen=False)
    found = [[[e.id for e in h.events] for h in hits] for _, hits in screened.hits]
    assert found == [[[e.id for e in h.events] for h in hits] for _, hits in plain.hits]
    assert len(found[0]) == 1
    assert screened.counts.parsed == 41


def test_an_escaped_line_anywhere_proves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "e.ndjson"
    hidden = b'{"@timestamp":"2026-01-01T00:00:45Z","k":"h1","event":{"category":"network"},'
    hidden += b'"destination":{"domain":"r\\u0061re.example"}}\n'
    _write(path, STARTS, hidden)  # the rare stage, with an escape hiding its needle
    rules = [make_rule(SEQUENCE, rule_id="seq")]
    result = hunt_files(rules, [path])
    assert result.counts.parsed == 41
    assert len(result.hits[0][1]) == 1


def test_a_file_that_changes_during_the_hunt_is_reported(tmp_path: Path) -> None:
    first, second = tmp_path / "a.ndjson", tmp_path / "b.ndjson"
    _write(first, STARTS)
    _write(second, STARTS[:1])
    errors: list[DataError] = []

    def grow(path: Path) -> None:
        if path == first:  # the rare stage arrives after the pass read the file
            with first.open("ab") as f:
                f.write(orjson.dumps(RARE) + b"\n")

    rules = [make_rule(SEQUENCE, rule_id="seq")]
    result = hunt_files(rules, [first, second], on_error=errors.append, on_file=grow)
    assert [str(e) for e in errors] == [f"{first}: changed while being read"]
    assert result.counts.malformed == 1


@pytest.mark.parametrize("block", [16, 300, 1 << 22])
@pytest.mark.parametrize("gzipped", [False, True])
def test_the_pass_sees_a_needle_wherever_blocks_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int, gzipped: bool
) -> None:
    """Blocks end at line ends, also where a line is longer than a block, plain or
    gzipped: the rare stage on the last line (no newline after it) is seen."""
    monkeypatch.setattr(hunt_prepass, "BLOCK_BYTES", block)
    body = b"".join(orjson.dumps(d) + b"\n" for d in [*STARTS, RARE])
    path = tmp_path / ("e.ndjson.gz" if gzipped else "e.ndjson")
    path.write_bytes(gzip.compress(body) if gzipped else body.rstrip(b"\n"))
    rules = [make_rule(SEQUENCE, rule_id="seq")]
    result = hunt_files(rules, [path])
    assert len(result.hits[0][1]) == 1
    assert result.counts.events == 41


@pytest.mark.parametrize("block", [64, 1 << 22])
def test_a_needle_past_ascii_is_seen_in_its_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    """Blocks of printable ASCII are scanned without the needles of other bytes: the
    block holding the rare stage's non-ASCII character is scanned with them."""
    monkeypatch.setattr(hunt_prepass, "BLOCK_BYTES", block)
    wide = SEQUENCE.replace('== "rare.example"', ': "*\u202e*"')
    rare = _event(45, event={"category": "network"}, destination={"domain": "a\u202eb"})
    path = tmp_path / "e.ndjson"
    _write(path, [*STARTS, rare, *STARTS[:3]])
    rules = [make_rule(wide, rule_id="seq")]
    screened, plain = hunt_files(rules, [path]), hunt_files(rules, [path], screen=False)
    assert len(screened.hits[0][1]) == 1
    assert [e.id for e in screened.hits[0][1][0].events] == [
        e.id for e in plain.hits[0][1][0].events
    ]
    _write(path, [*STARTS, *STARTS[:3]])  # the character nowhere: nothing is parsed
    assert hunt_files(rules, [path]).counts.parsed == 0


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=30),
    last_newline=st.booleans(),
    block=st.integers(1, 64),
)
def test_blocks_are_the_file_cut_at_line_ends(
    lines: list[bytes], last_newline: bool, block: int
) -> None:
    """Whatever the block size, the blocks are the whole input, in order, each ending at
    a line end (but the last, when the input has no final newline)."""
    body = b"\n".join(lines) + (b"\n" if last_newline and lines else b"")
    seen: list[bytes] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(hunt_prepass, "BLOCK_BYTES", block)
        hunt_prepass._scan_read(
            io.BufferedReader(io.BytesIO(body)), lambda b, _buffer: seen.append(bytes(b))
        )
    assert b"".join(seen) == body
    assert all(b.endswith(b"\n") for b in seen[:-1])
    assert all(b for b in seen)


# A file truncated while the pass reads it (copy-and-truncate log rotation): the pass's
# first block truncates the file, as another process would. A memory-mapped read died of
# SIGBUS here; run in a child process so that such a death fails this test, not the suite.
_TRUNCATED = """
import sys
from pathlib import Path
from eqlwatch.pipeline import hunt_prepass
from eqlwatch.pipeline.hunt import hunt_files
from tests.pipeline.doubles import make_rule

path = Path(sys.argv[1])
real = hunt_prepass.compiled

class Truncating:
    def __init__(self, db):
        self.db = db
    def scan(self, block, **kw):
        with path.open("r+b") as f:
            f.truncate(100)
        return self.db.scan(block, **kw)

hunt_prepass.compiled = lambda *a: Truncating(real(*a))
import hyperscan
scratch = hyperscan.Scratch
hyperscan.Scratch = lambda db: scratch(db.db if isinstance(db, Truncating) else db)
hunt_prepass.BLOCK_BYTES = 4096
errors = []
rule = make_rule(sys.argv[2], rule_id="seq")
hunt_files([rule], [path], on_error=errors.append)
print("\\n".join(str(e) for e in errors))
"""


def test_a_file_truncated_during_the_pass_is_reported_not_a_crash(
    tmp_path: Path, repo_root: Path
) -> None:
    path = tmp_path / "e.ndjson"
    _write(path, [*STARTS * 200, RARE])  # 8,001 lines, ~0.5 MB
    done = subprocess.run(
        [sys.executable, "-c", _TRUNCATED, str(path), SEQUENCE],
        capture_output=True,
        text=True,
        cwd=repo_root,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert f"{path}: changed while being read" in done.stdout.splitlines()


def test_a_kept_line_whose_category_is_not_utf8_is_reported_as_the_plain_path_does(
    tmp_path: Path,
) -> None:
    """The category read decodes `event.category` (msgspec raises UnicodeDecodeError on
    invalid UTF-8 there): the line is parsed, reported and counted, not a crash."""
    path = tmp_path / "e.ndjson"
    bad = b'{"@timestamp":"2026-01-01T00:00:50Z","k":"h1","event":{"category":"proc\xff"},'
    bad += b'"process":{"name":"cmd.exe"}}\n'
    _write(path, [*STARTS, RARE], bad)
    rules = [make_rule(SEQUENCE, rule_id="seq")]
    seen: list[list[str]] = []
    for screen in (True, False):
        errors: list[DataError] = []
        result = hunt_files(rules, [path], on_error=errors.append, screen=screen)
        seen.append([str(e) for e in errors])
        assert result.counts.malformed == 1
        assert len(result.hits[0][1]) == 1
    assert seen[0] == seen[1]
    assert seen[0][0].startswith(f"{path}:42: malformed JSON")


WORDS = [b'"ab"', b'"cd"', b"xyz", b"\\\\q", b"\xc3"]


@settings(max_examples=100, deadline=None)
@given(
    rules=st.lists(
        st.lists(st.frozensets(st.sampled_from(WORDS), min_size=1), min_size=1, max_size=4),
        min_size=1,
        max_size=4,
    ),
    lines=st.lists(st.lists(st.sampled_from(WORDS), max_size=3), min_size=1, max_size=8),
    sampled=st.integers(0, 8),
    per_rule=st.integers(1, 3),
)
def test_a_rule_is_proven_unreachable_only_when_one_of_its_groups_is_nowhere(
    tmp_path_factory: pytest.TempPathFactory,
    rules: list[list[frozenset[bytes]]],
    lines: list[list[bytes]],
    sampled: int,
    per_rule: int,
) -> None:
    """Whatever the sample and however few groups are searched, a rule is proven to have
    no hit only if some group of its has no needle in the file; searching every group
    without a sample proves exactly those."""
    text = [b" ".join(words) for words in lines]  # bytes only: the pass parses nothing
    path = tmp_path_factory.mktemp("p") / "e.ndjson"
    path.write_bytes(b"\n".join(text) + b"\n")
    screens = [(tuple(groups),) for groups in rules]
    required = [frozenset({0})] * len(rules)
    content = b"\n".join(text).lower()
    truth = {
        r for r, groups in enumerate(rules) if any(all(n not in content for n in g) for g in groups)
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(hunt_prepass, "GROUPS_PER_RULE", per_rule)
        sample = Sample([line.lower() for line in text[:sampled]])
        chosen = hunt_prepass.prepass(screens, required, [path], "ecs", sample).unreachable
        patch.setattr(hunt_prepass, "GROUPS_PER_RULE", 99)
        every = hunt_prepass.prepass(screens, required, [path], "ecs").unreachable
    assert chosen <= truth
    assert every == truth
