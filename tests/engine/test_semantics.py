"""A case table of Elasticsearch semantics beyond the QA specs, plus executor behaviour."""

from __future__ import annotations

from typing import Any

import pytest

from eqlwatch.engine import FieldSchema, SourceEvent, compile_query
from eqlwatch.engine.schema import parse_mapping
from eqlwatch.errors import DataError

DOCS: list[dict[str, Any]] = [
    {
        "@timestamp": "2024-05-01T00:00:00.000000002Z",
        "event": {"category": "process"},
        "process": {"name": "CMD.exe", "pid": 10},
        "user": "alice",
        "tags": ["x", "y"],
        "ip": "10.0.0.5",
        "ver": "1.10.0",
        "when": "01/05/2024",
        "n": 1,
    },
    {
        "@timestamp": "2024-05-01T00:00:00.000000001Z",
        "event": {"category": ["process", "start"]},
        "process.name": "cmd.exe",
        "process.pid": 11,
        "ip": "192.168.1.1",
        "ver": "1.9.0",
        "when": "02/05/2024",
        "n": 2,
    },
    {
        "@timestamp": 1714521600001,
        "event": {"category": "network"},
        "process": {"pid": 10},
        "user": None,
        "ip": "::ffff:10.1.1.1",
        "ver": "2.0.0-rc.1",
        "n": 3,
    },
    {"event": {"category": "process"}, "process": {"name": "no-timestamp"}, "n": 4},
]
MAPPING = parse_mapping(
    {
        "properties": {
            "@timestamp": {"type": "date_nanos"},  # a `date` would drop the ns digits below
            "ip": {"type": "ip"},
            "ver": {"type": "version"},
            "when": {"type": "date", "format": "dd/MM/yyyy"},
            "user": {"type": "keyword", "null_value": "nobody"},
        }
    }
)


def ids(query: str, schema: FieldSchema | None = MAPPING, **kw: Any) -> list[int]:
    events = [SourceEvent("logs", str(i), d) for i, d in enumerate(DOCS, 1)]
    hits = compile_query(query, schema=schema, tiebreaker_field="n", **kw).run(events)
    return [int(e.source["n"]) for h in hits for e in h.events if not e.missing]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('process where process.name == "cmd.exe"', [2]),  # case-sensitive, dotted key
        ('process where process.name : "cmd.EXE"', [2, 1]),  # ns order: 2 is 1 ns earlier
        ('process where process.name like "CMD*"', [1]),
        ('process where process.name like~ "cmd*"', [2, 1]),
        ('process where process.name in~ ("CMD.EXE")', [2, 1]),
        ('any where user != "alice"', [2, 3]),  # missing field: != is true; null_value applies
        ('any where user == "nobody"', [3]),
        ('any where tags == "y"', [1]),  # multi-valued: any value
        ('any where event.category == "start"', [2]),
        ('any where ip == "10.1.1.1"', []),  # ipv4-mapped v6 stays v6 text
        ('any where cidrMatch(ip, "10.0.0.0/8")', [1, 3]),
        ('any where ver > "1.9.0"', [1, 3]),  # versions compare semantically
        ('any where ver < "2.0.0"', [2, 1, 3]),  # pre-release sorts before release
        ('any where when == "02/05/2024"', [2]),  # date field with its own format
        ('any where @timestamp > "2024-05-01T00:00:00.000000001Z"', [1, 3]),
        ("any where (process.pid + 1) / 4 == 2", [1, 3]),  # integer division truncates
        ("any where not (uptime > 10)", []),  # null comparisons stay null under not
        ("any where ?nothing == null and ?nothing2 == ?nothing", [2, 1, 3]),
        ('any where string(when) == "2024-05-02T00:00:00.000Z"', [2]),  # dates print as ISO
        ('any where @timestamp : "2024-05-01T00:00:00.001*"', [3]),
    ],
)
def test_semantics(query: str, expected: list[int]) -> None:
    assert ids(query) == expected


def test_sequence_with_until_and_keys() -> None:
    query = "sequence by process.pid [process where true] [network where true]"
    assert ids(query) == [1, 3]
    assert ids(query + ' until [process where process.name == "cmd.exe"]') == [1, 3]
    assert ids(query + ' until [process where process.name == "CMD.exe"]') == []


def test_size_limits_hits() -> None:
    assert ids("any where true", size=2) == [2, 1]


def test_sequences_need_ordered_input() -> None:
    query = compile_query("sequence [a where true] [b where true]")
    ex = query.executor()
    ex.feed([SourceEvent("i", "1", {"@timestamp": 5, "event": {"category": "a"}})])
    with pytest.raises(DataError):
        ex.feed([SourceEvent("i", "2", {"@timestamp": 4, "event": {"category": "b"}})])


def test_pending_since_reports_open_sequences() -> None:
    query = compile_query("sequence with maxspan=1s [a where true] [b where true] ![c where true]")
    ex = query.executor()
    assert ex.pending_since() is None
    ex.feed([SourceEvent("i", "1", {"@timestamp": 5, "event": {"category": "a"}})])
    assert ex.pending_since() == 5_000_000
    ex.feed([SourceEvent("i", "2", {"@timestamp": 6, "event": {"category": "b"}})])
    assert ex.pending_since() == 5_000_000  # complete, but a trailing `c` could still veto
    ex.feed([SourceEvent("i", "3", {"@timestamp": 2000, "event": {"category": "x"}})])
    assert ex.pending_since() is None
    assert [h.events[-1].missing for h in ex.finish()] == [True]


def test_samples_per_key_may_share_events() -> None:
    docs: list[dict[str, Any]] = [
        {"event": {"category": "a"}, "os": "w", "n": 1},
        {"event": {"category": "a"}, "os": "w", "n": 2},
        {"event": {"category": "b"}, "os": "w", "n": 3},
        {"event": {"category": "a"}, "os": "r", "n": 4},
        {"event": {"category": "b"}, "os": "r", "n": 5},
        {"event": {"category": "b"}, "os": None, "n": 6},
    ]
    events = [SourceEvent("s", str(d["n"]), d) for d in docs]

    def run(limit: int) -> list[list[int]]:
        query = compile_query(
            "sample by os [a where true] [b where true]", max_samples_per_key=limit
        )
        return [[int(e.source["n"]) for e in h.events] for h in query.run(events)]

    assert run(1) == [[4, 5], [1, 3]]  # keys sorted: "r" < "w"; null keys dropped
    assert run(5) == [[4, 5], [1, 3], [2, 3]]  # event 3 fills `b` in both samples of "w"
