"""A parsed query compiled for one index: stage predicates, join-key functions, ordinals.

Elasticsearch resolves field types per index, so each index an event comes from gets its
own compiled `Plan` (cached by index name). Join keys are lists of composite tuples: one
per combination of the values of multi-valued key fields, deduplicated and sorted as doc
values are, with nulls ignored; a null key on a non-optional field drops the event.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from eql import ast as A

from eqlwatch.engine.compiler import ExprCompiler, field_name
from eqlwatch.engine.parse import ParsedQuery, ParsedStage
from eqlwatch.engine.schema import FieldSchema, make_reader
from eqlwatch.engine.values import NS_PER_MS, format_iso_ms, sort_key

Source = Mapping[str, Any]
KeyFn = Callable[[Source], list[tuple[Any, ...]] | None]


@dataclass(frozen=True, slots=True)
class SourceEvent:
    """An event as read from an index: index name, `_id`, and its `_source`."""

    index: str
    id: str
    source: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Settings:
    """Request options that change how events are read."""

    timestamp_field: str = "@timestamp"
    tiebreaker_field: str | None = None
    event_category_field: str = "event.category"


@dataclass(frozen=True, slots=True)
class StagePlan:
    match: Callable[[Source], bool]
    keys: KeyFn
    cond_id: int  # stages repeated by `with runs` share one condition


@dataclass(frozen=True, slots=True)
class Plan:
    stages: tuple[StagePlan, ...]
    until: StagePlan | None
    timestamp: Callable[[Source], Any]
    tiebreaker: Callable[[Source], Any] | None
    fields: frozenset[str]


def _hashable(v: Any) -> Any:
    return v if isinstance(v, str | int | float | bool) else repr(v)


def make_key_fn(comp: ExprCompiler, nodes: tuple[Any, ...], dates_as: str) -> KeyFn:
    """Composite join keys of an event (None when a required key is null)."""
    parts: list[tuple[Callable[[Source], Any], bool, Callable[[Any], Any] | None]] = []
    for node in nodes:
        fn = comp.compile(node)
        optional = isinstance(node, A.Field) and field_name(node)[1]
        conv: Callable[[Any], Any] | None = None
        if comp._field_type(node) in ("date", "date_nanos"):
            conv = format_iso_ms if dates_as == "iso" else (lambda ns: ns // NS_PER_MS)
        parts.append((fn, optional, conv))
    if not parts:
        empty: list[tuple[Any, ...]] = [()]
        return lambda src: empty

    def keys(src: Source) -> list[tuple[Any, ...]] | None:
        combos: list[tuple[Any, ...]] = [()]
        for fn, optional, conv in parts:
            v = fn(src)
            if v is None:
                if not optional:
                    return None
                vals: list[Any] = [None]
            elif type(v) is list:
                vals = sorted({_hashable(x) for x in v}, key=sort_key)
            else:
                vals = [_hashable(v)]
            if conv is not None:
                vals = [None if x is None else conv(x) for x in vals]
            combos = [(*c, x) for c in combos for x in vals]
        return combos

    return keys


def _category(comp: ExprCompiler, settings: Settings, event_type: str) -> Callable[[Source], bool]:
    if event_type == "any":
        return lambda src: True
    comp.fields.add(settings.event_category_field)
    read = make_reader(comp.schema, settings.event_category_field, settings.timestamp_field)

    def check(src: Source) -> bool:
        v = read(src)
        return v == event_type or (type(v) is list and event_type in v)

    return check


def _stage(comp: ExprCompiler, settings: Settings, stage: ParsedStage, dates_as: str) -> StagePlan:
    category = _category(comp, settings, stage.event_type)
    cond = comp.condition(stage.condition)
    if isinstance(stage.condition, A.Boolean) and stage.condition.value:
        match = category
    else:

        def match(src: Source) -> bool:
            return category(src) and cond(src)

    return StagePlan(match, make_key_fn(comp, stage.keys, dates_as), id(stage.condition))


def build_plan(parsed: ParsedQuery, schema: FieldSchema, settings: Settings) -> Plan:
    """Compile every stage of `parsed` against one index's field types."""
    comp = ExprCompiler(schema, settings.timestamp_field)
    dates_as = "epoch_ms" if parsed.kind == "sample" else "iso"
    stages = tuple(_stage(comp, settings, s, dates_as) for s in parsed.stages)
    until = _stage(comp, settings, parsed.until, dates_as) if parsed.until else None
    ts = make_reader(schema, settings.timestamp_field, settings.timestamp_field)
    tb = None
    if settings.tiebreaker_field:
        tb = make_reader(schema, settings.tiebreaker_field, settings.timestamp_field)
        comp.fields.add(settings.tiebreaker_field)
    if parsed.kind != "sample":
        comp.fields.add(settings.timestamp_field)
    return Plan(stages, until, ts, tb, frozenset(comp.fields))


class Ordinal(NamedTuple):
    """Position of an event: timestamp (ns), tiebreaker sort key, arrival number."""

    ts: int
    tb: tuple[int, Any]
    seq: int


def ordinal_of(plan: Plan, src: Source, seq: int) -> Ordinal | None:
    """The event's ordinal, or None when it has no usable timestamp."""
    ts = plan.timestamp(src)
    if type(ts) is list:
        ts = ts[0]
    if not isinstance(ts, int) or isinstance(ts, bool):
        return None
    if plan.tiebreaker is None:
        return Ordinal(ts, (0, 0), seq)
    tb = plan.tiebreaker(src)
    if type(tb) is list:
        tb = tb[0]
    return Ordinal(ts, sort_key(tb) if tb is not None else (9, 0), seq)
