"""A byte-level test that skips NDJSON lines which provably cannot match any filter.

Every filter of a query (stages, until, missing events) needs its event category and, in
its top-level `and`, case-sensitive string equalities (`x == "lit"`, `x in ("a", "b")`).
Those values must then appear in the raw line as JSON encodes them, so a line that
contains none of them for every filter is skipped before it is parsed. Lines with `\\u` or
`\\/` escapes are always parsed, and fields whose values Elasticsearch rewrites (mapped
non-string types, `null_value`) give no needle, so the test never drops a possible match.
A skipped line is not parsed at all, so a malformed one among them goes unreported: the
`query` command, which must report every malformed line, does not use it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from eqlwatch.engine.compiler import field_name
from eqlwatch.engine.parse import ParsedQuery, ParsedStage
from eqlwatch.engine.parse import nodes as A
from eqlwatch.engine.schema import STRING_TYPES, FieldSchema

Group = frozenset[bytes]  # the line must contain at least one of these
LineFilter = Callable[[bytes], bool]


def _textual(schema: FieldSchema, name: str, timestamp_field: str) -> bool:
    """Whether the source text of the field is what `==` compares (no rewriting)."""
    target, spec = schema.resolve(name)
    if spec is None:
        return target != timestamp_field and name != timestamp_field
    return (
        spec.type in STRING_TYPES
        and spec.null_value is None
        and spec.normalizer is None
        and spec.source is None
        and spec.ignore_above is None
    )


def _needle(value: str) -> bytes:
    """The value as JSON writes it, without quotes (a keyword may hold a number)."""
    return orjson.dumps(value)[1:-1]


def _groups(node: Any, schema: FieldSchema, ts_field: str) -> list[Group]:
    """Conditions on the raw line implied by `node` being true."""
    if isinstance(node, A.And):
        return [g for term in node.terms for g in _groups(term, schema, ts_field)]
    if isinstance(node, A.Or):
        branches = [_groups(term, schema, ts_field) for term in node.terms]
        if all(branches):
            return [frozenset().union(*(b[0] for b in branches))]
        return []
    if isinstance(node, A.Comparison) and node.comparator == "==":
        field, lit = node.left, node.right
        if isinstance(field, A.String):
            field, lit = lit, field
        if _is_text_field(field, schema, ts_field) and isinstance(lit, A.String):
            return [frozenset({_needle(lit.value)})]
        return []
    if (
        isinstance(node, A.InSet)
        and _is_text_field(node.expression, schema, ts_field)
        and node.container
        and all(isinstance(c, A.String) for c in node.container)
    ):
        return [frozenset(_needle(c.value) for c in node.container)]
    return []


def _is_text_field(node: Any, schema: FieldSchema, ts_field: str) -> bool:
    return isinstance(node, A.Field) and _textual(schema, field_name(node)[0], ts_field)


def _filter_groups(
    stage: ParsedStage, schema: FieldSchema, ts_field: str, category_field: str
) -> list[Group] | None:
    """Groups for one filter, or None when it could match lines without any needle."""
    groups = []
    if stage.event_type != "any" and _textual(schema, category_field, ts_field):
        groups.append(frozenset({_needle(stage.event_type)}))
    groups.extend(_groups(stage.condition, schema, ts_field))
    return groups or None


def _has_escape(line: bytes) -> bool:
    """A real `\\uXXXX` or `\\/` escape (not an escaped backslash followed by u or /)."""
    plain = line.replace(b"\\\\", b"")
    return b"\\u" in plain or b"\\/" in plain


def line_filter(
    parsed: ParsedQuery, schema: FieldSchema, timestamp_field: str, category_field: str
) -> LineFilter | None:
    """A test for raw NDJSON lines, or None when every line must be parsed."""
    filters = [*parsed.stages, *([parsed.until] if parsed.until else [])]
    per_filter = []
    for stage in filters:
        groups = _filter_groups(stage, schema, timestamp_field, category_field)
        if groups is None:
            return None
        per_filter.append(tuple(sorted(groups, key=len)))

    def may_match(line: bytes) -> bool:
        for groups in per_filter:
            for group in groups:
                for needle in group:
                    if needle in line:
                        break
                else:
                    break  # no needle of this group: this filter cannot match
            else:
                return True  # every group found: this filter may match
        return (b"\\u" in line or b"\\/" in line) and _has_escape(line)

    return may_match
