"""Byte strings a raw NDJSON line must contain before a rule's filter can match it.

`hunt` reads whole files where only a few lines concern the rule pack. For each filter of a
query (stages, `until`, missing events) this derives groups of needles — lower-cased bytes,
at least one of each group must occur in the lower-cased line — from what the filter's
top-level `and` requires:

- `field == "lit"`, `field in (...)`, `field in~ (...)`: the JSON string, quotes included
  (the engine compares strings only to strings when no mapping is given);
- `field : "pat"` / `like` / `like~`: the longest literal piece of each pattern (quoted at an
  unwildcarded end when only a string can match it);
- the event category: its quoted name.

The engine compares case-insensitively with `str.lower()`, which maps a few non-ASCII
characters to ASCII; so the screen only applies to pure-ASCII lines without `\\u`/`\\/`
escapes (every other line is parsed). Valid only for queries compiled without a mapping.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from eqlwatch.engine import CompiledQuery
from eqlwatch.engine.compiler import field_name
from eqlwatch.engine.parse import ParsedStage
from eqlwatch.engine.parse import nodes as A

Group = frozenset[bytes]  # at least one of these occurs in the lower-cased line
# Characters of numbers and booleans as the engine renders them for `:` (no needle there).
_SCALAR_CHARS = frozenset("0123456789.+-eEtrufalsTRUFALS*?")
_WILDCARDS = ("$wildcard", "$wildcard~")
# An object value is matched as its Python text; pieces with its syntax get no needle.
_REPR_CHARS = frozenset("{}[]'")


def _quoted(value: str) -> bytes:
    return orjson.dumps(value).lower()


def _piece_needle(pattern: str) -> bytes | None:
    """The longest wildcard-free piece of a pattern, quoted at an anchored end."""
    if not pattern.isascii() or set(pattern) <= _SCALAR_CHARS or _REPR_CHARS & set(pattern):
        return None
    pieces = pattern.replace("?", "*").split("*")
    best = max(range(len(pieces)), key=lambda i: len(pieces[i]))
    if not pieces[best]:
        return None
    needle = orjson.dumps(pieces[best])[1:-1].lower()
    if best == 0:
        needle = b'"' + needle
    if best == len(pieces) - 1:
        needle = needle + b'"'
    return needle


def _is_text_field(node: Any, timestamp_field: str) -> bool:
    return isinstance(node, A.Field) and field_name(node)[0] != timestamp_field


def _string_literals(items: Iterable[Any]) -> list[str] | None:
    values = list(items)
    if not values or not all(isinstance(v, A.String) for v in values):
        return None
    return [v.value for v in values]


def _leaf_groups(node: Any, ts: str) -> list[Group]:
    """Groups implied by one comparison, membership or pattern test (else none)."""
    if isinstance(node, A.Comparison) and node.comparator == "==":
        left, right = node.left, node.right
        if isinstance(left, A.String):
            left, right = right, left
        if _is_text_field(left, ts) and isinstance(right, A.String):
            return [frozenset({_quoted(right.value)})]
        return []
    if isinstance(node, A.InSet) and _is_text_field(node.expression, ts):
        values = _string_literals(node.container)
        return [frozenset(_quoted(v) for v in values)] if values else []
    if isinstance(node, A.FunctionCall) and node.arguments:
        name, args = str(node.name), list(node.arguments)
        values = _string_literals(args[1:])
        if values is None or not _is_text_field(args[0], ts):
            return []
        if name == "$in~":  # a non-ASCII literal may equal ASCII text once lower-cased
            ascii_only = all(v.isascii() for v in values)
            return [frozenset(_quoted(v) for v in values)] if ascii_only else []
        if name in _WILDCARDS:
            needles = [_piece_needle(v) for v in values]
            return [frozenset(n for n in needles if n)] if all(needles) else []
    return []


def groups_of(node: Any, ts: str, sample: Sample | None = None) -> list[Group]:
    """Every group implied by `node` being true (an `or` needs a group in each branch)."""
    if isinstance(node, A.And):
        return [g for term in node.terms for g in groups_of(term, ts, sample)]
    if isinstance(node, A.Or):
        branches = [groups_of(term, ts, sample) for term in node.terms]
        if not all(branches):
            return []
        return [frozenset().union(*(best_group(b, sample) for b in branches))]
    return _leaf_groups(node, ts)


class Sample:
    """Lower-cased lines of the input, and which of them hold each needle (found once)."""

    def __init__(self, lines: list[bytes]) -> None:
        self.lines = lines
        self._holding: dict[bytes, frozenset[int]] = {}

    def holding(self, needle: bytes) -> frozenset[int]:
        found = self._holding.get(needle)
        if found is None:
            found = frozenset(i for i, line in enumerate(self.lines) if needle in line)
            self._holding[needle] = found
        return found

    def count(self, group: Group) -> int:
        """How many sample lines hold at least one needle of `group`."""
        return len(frozenset().union(*(self.holding(n) for n in group)))


def best_group(groups: list[Group], sample: Sample | None) -> Group:
    """The group fewest lines satisfy: counted on a sample, else longest shortest needle."""
    if sample:
        return min(groups, key=lambda g: (sample.count(g), len(g)))
    return max(groups, key=lambda g: (min(len(n) for n in g), -len(g)))


def filter_groups(stage: ParsedStage, ts: str, sample: Sample | None = None) -> list[Group]:
    """Groups for one filter: its category and its condition."""
    groups = groups_of(stage.condition, ts, sample)
    if stage.event_type != "any":
        groups.append(frozenset({_quoted(stage.event_type)}))
    return groups


def query_needles(query: CompiledQuery, sample: Sample | None = None) -> Group | None:
    """Needles one of which every line some filter may match contains; None: any line may.

    `sample` (lines of the input) is used only to pick selective groups.
    """
    parsed = query.parsed
    ts = query.settings.timestamp_field
    needles: set[bytes] = set()
    for stage in (*parsed.stages, *([parsed.until] if parsed.until else [])):
        groups = filter_groups(stage, ts, sample)
        if not groups:
            return None
        needles |= best_group(groups, sample)
    return minimal(needles)


def minimal(needles: Iterable[bytes]) -> Group:
    """Drop needles that contain another one (any line with them has the shorter one)."""
    ordered = sorted(set(needles), key=len)
    kept: list[bytes] = []
    for n in ordered:
        if not any(k in n for k in kept):
            kept.append(n)
    return frozenset(kept)
