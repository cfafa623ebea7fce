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

from eqlwatch.engine.compiler import ExprCompiler, field_name
from eqlwatch.engine.parse import ParsedQuery, ParsedStage
from eqlwatch.engine.parse import nodes as A
from eqlwatch.engine.schema import (
    FieldSchema,
    iso_date_field,
    make_reader,
    object_path,
    raw_reader,
)
from eqlwatch.engine.values import NS_PER_MS, format_iso_ms, sort_key

Source = Mapping[str, Any]
KeyFn = Callable[[Source], list[tuple[Any, ...]] | None]
Category = tuple[str, str, dict[str, tuple[int, ...]], tuple[int, ...]]
Dispatch = Callable[[Source], tuple[int, ...]]


class SourceEvent(NamedTuple):
    """An event as read from an index: index name, `_id`, and its `_source`."""

    index: str  # type: ignore[assignment]  # shadows tuple.index on purpose: ES's name
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
    """One filter: `match` checks category and condition; `cond` only the condition."""

    match: Callable[[Source], bool]
    cond: Callable[[Source], bool] | None  # None: `where true`
    keys: KeyFn
    cond_id: int  # stages repeated by `with runs` share one condition


@dataclass(frozen=True, slots=True)
class Plan:
    stages: tuple[StagePlan, ...]
    until: StagePlan | None
    timestamp: Callable[[Source], Any]
    tiebreaker: Callable[[Source], Any] | None
    fields: frozenset[str]
    dispatch: Callable[[Source], tuple[int, ...]]  # filters (stages, then until) by category
    # (a, b, filters by category, filters of any category) when `dispatch` reads the text at
    # src[a][b] (or a list of one text) that way, so a hot loop can do it inline
    category: Category | None = None
    # the top-level field of an ISO `@timestamp` read with the default format, no tiebreaker:
    # then `values.fast_iso(text)`, when not None, floored to the millisecond, is the
    # ordinal's timestamp (see `ordinal_of`)
    iso_timestamp: str | None = None

    def filters_matching(self, src: Source) -> list[int]:
        """Indices of the filters (stages, then until) that match; each condition runs once."""
        found: list[int] = []
        cache: dict[int, bool] = {}
        n = len(self.stages)
        for i in self.dispatch(src):
            stage = self.stages[i] if i < n else self.until
            assert stage is not None
            cond = stage.cond
            if cond is None:
                found.append(i)
                continue
            hit = cache.get(stage.cond_id)
            if hit is None:
                hit = cache[stage.cond_id] = cond(src)
            if hit:
                found.append(i)
        return found


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

    def general(src: Source) -> list[tuple[Any, ...]] | None:
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

    if any(conv is not None for _, _, conv in parts):
        return general
    fns = [fn for fn, _, _ in parts]
    if len(fns) == 1:
        (f1,) = fns

        def keys1(src: Source) -> list[tuple[Any, ...]] | None:
            a = f1(src)
            return [(a,)] if type(a) in _SCALARS else general(src)

        return keys1
    if len(fns) == 2:
        f1, f2 = fns
        paths = (object_path(f1), object_path(f2))
        if paths[0] is not None and paths[1] is not None:
            return _inline_keys2(paths[0], paths[1], general)

        def keys2(src: Source) -> list[tuple[Any, ...]] | None:
            a, b = f1(src), f2(src)
            if type(a) in _SCALARS and type(b) in _SCALARS:
                return [(a, b)]
            return general(src)

        return keys2
    return general


_SCALARS = (str, int, float, bool)


def _inline_keys2(p1: tuple[str, str], p2: tuple[str, str], general: KeyFn) -> KeyFn:
    """Two `a.b` join keys read inline when both are scalars (the usual case)."""
    (a1, b1), (a2, b2) = p1, p2

    def keys22(src: Source) -> list[tuple[Any, ...]] | None:
        o = src.get(a1)
        if type(o) is dict:
            x = o.get(b1)
            if type(x) in _SCALARS:
                o = src.get(a2)
                if type(o) is dict:
                    y = o.get(b2)
                    if type(y) in _SCALARS:
                        return [(x, y)]
        return general(src)

    return keys22


def _dispatcher(
    schema: FieldSchema, settings: Settings, event_types: list[str]
) -> tuple[Dispatch, Category | None]:
    """Indices of the filters whose event category matches the event (read once per event)."""
    any_idx = tuple(i for i, t in enumerate(event_types) if t == "any")
    by_type: dict[str, tuple[int, ...]] = {}
    for i, t in enumerate(event_types):
        if t != "any":
            by_type[t] = tuple(sorted({*by_type.get(t, ()), i, *any_idx}))
    if not by_type:
        return (lambda src: any_idx), None
    target, _ = schema.resolve(settings.event_category_field)
    read = raw_reader(target)
    get = by_type.get

    def dispatch(src: Source) -> tuple[int, ...]:
        return _lookup_types(read(src), get, any_idx)

    parts = target.split(".")
    if len(parts) != 2:
        return dispatch, None
    first, second = parts

    def dispatch2(src: Source) -> tuple[int, ...]:
        """`event.category` read inline: this runs once for every event."""
        o = src.get(first)
        if type(o) is dict:
            v = o.get(second)
            if type(v) is list and len(v) == 1:
                v = v[0]
            if type(v) is str:
                return get(v, any_idx)
        return dispatch(src)

    return dispatch2, (first, second, by_type, any_idx)


def _lookup_types(
    v: Any, get: Callable[..., tuple[int, ...]], any_idx: tuple[int, ...]
) -> tuple[int, ...]:
    if type(v) is str:
        return get(v, any_idx)
    if type(v) is list:
        found = {i for x in v if isinstance(x, str) for i in get(x, ())}
        return tuple(sorted(found.union(any_idx)))
    return any_idx


def _stage(
    comp: ExprCompiler, stage: ParsedStage, dates_as: str, dispatch: Any, i: int
) -> StagePlan:
    always = isinstance(stage.condition, A.Boolean) and bool(stage.condition.value)
    cond = None if always else comp.condition(stage.condition)

    def match(src: Source) -> bool:
        return i in dispatch(src) and (cond is None or cond(src))

    return StagePlan(match, cond, make_key_fn(comp, stage.keys, dates_as), id(stage.condition))


def build_plan(parsed: ParsedQuery, schema: FieldSchema, settings: Settings) -> Plan:
    """Compile every stage of `parsed` against one index's field types."""
    comp = ExprCompiler(schema, settings.timestamp_field)
    dates_as = "epoch_ms" if parsed.kind == "sample" else "iso"
    filters = [*parsed.stages, *([parsed.until] if parsed.until else [])]
    types = [f.event_type for f in filters]
    if any(t != "any" for t in types):
        comp.fields.add(settings.event_category_field)
    dispatch, category = _dispatcher(schema, settings, types)
    plans = [_stage(comp, f, dates_as, dispatch, i) for i, f in enumerate(filters)]
    until = plans.pop() if parsed.until else None
    ts = make_reader(schema, settings.timestamp_field, settings.timestamp_field)
    tb = None
    if settings.tiebreaker_field:
        tb = make_reader(schema, settings.tiebreaker_field, settings.timestamp_field)
        comp.fields.add(settings.tiebreaker_field)
    if parsed.kind != "sample":
        comp.fields.add(settings.timestamp_field)
    iso = iso_date_field(ts) if tb is None else None
    return Plan(tuple(plans), until, ts, tb, frozenset(comp.fields), dispatch, category, iso)


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
        return _new(Ordinal, (ts, _NO_TIEBREAKER, seq))
    tb = plan.tiebreaker(src)
    if type(tb) is list:
        tb = tb[0]
    return _new(Ordinal, (ts, sort_key(tb) if tb is not None else (9, 0), seq))


_new = tuple.__new__  # NamedTuple construction without its Python-level __new__
NO_TIEBREAKER = _NO_TIEBREAKER = (0, 0)
