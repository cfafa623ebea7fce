"""eql expression AST to Python closures over an event's `_source`, with ES semantics.

Each node is compiled once per (query, index) into a closure; evaluation never walks the
AST. Three-valued logic: closures return True, False or None (null). `==` is null-safe,
ordering against null is null, multi-valued fields match when any value does. Field-vs-
literal comparisons are specialised, and literals are converted to the field's type
(dates, versions, IPs) at compile time.
"""

from __future__ import annotations

import math
import operator
import time
from collections.abc import Callable, Mapping
from typing import Any

from eqlwatch.engine import functions as F
from eqlwatch.engine.lucene import PatternError, compile_wildcard_query
from eqlwatch.engine.parse import nodes as A
from eqlwatch.engine.schema import (
    STRING_TYPES,
    FieldSchema,
    field_type,
    make_reader,
    normalize,
    object_path,
)
from eqlwatch.engine.values import (
    DEFAULT_DATE_FORMAT,
    canonical_ip,
    date_parser,
    format_iso_ms,
    version_key,
)
from eqlwatch.engine.wildcard import compile_regexes, compile_wildcards
from eqlwatch.errors import QueryError

Fn = Callable[[Mapping[str, Any]], Any]
_ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
_MATH = {"+": F.add, "-": F.subtract, "*": F.multiply, "/": F.divide, "%": F.modulo}


_BOOLEAN_NODES = (A.Comparison, A.And, A.Or, A.Not, A.IsNull, A.IsNotNull, A.InSet)
_BOOLEAN_FUNCTIONS = frozenset(
    {"$wildcard", "$regex", "$in", "cidrmatch", "startswith", "endswith", "stringcontains"}
)


def _is_boolean(node: Any) -> bool:
    """Nodes whose closures return exactly True, False or None."""
    if isinstance(node, _BOOLEAN_NODES):
        return True
    return isinstance(node, A.FunctionCall) and str(node.name).rstrip("~") in _BOOLEAN_FUNCTIONS


# Functions Elasticsearch runs as term-level queries (prefix, wildcard, terms) when they
# test a field against literals, in a filter; elsewhere (`endsWith(x, "a") == false`) and
# on other arguments they are scripts, null where an argument is.
_TERM_FUNCTIONS = frozenset({"cidrmatch", "startswith", "endswith", "stringcontains"})
_WILDCARD_SYNTAX = frozenset("*?\\")


def _plain_string_test(base: str, text: str, insensitive: bool) -> Callable[[str], bool]:
    if insensitive:
        low = text.lower()
        if base == "startswith":
            return lambda s: s.lower().startswith(low)
        if base == "endswith":
            return lambda s: s.lower().endswith(low)
        return lambda s: low in s.lower()
    if base == "startswith":
        return lambda s: s.startswith(text)
    if base == "endswith":
        return lambda s: s.endswith(text)
    return lambda s: text in s


def _is_term_query(node: A.FunctionCall) -> bool:
    args = list(node.arguments)
    return (
        str(node.name).rstrip("~") in _TERM_FUNCTIONS
        and len(args) >= 2
        and isinstance(args[0], A.Field)
        and all(isinstance(a, A.String) for a in args[1:])
    )


def field_name(node: A.Field) -> tuple[str, bool]:
    """Dotted name of a field node and whether it was written optional (`?x`)."""
    base = str(node.base)
    optional = base.startswith("?")
    parts = [base[1:] if optional else base, *(str(p) for p in node.path)]
    return ".".join(parts), optional


def _same_kind(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str)
    return True


def _eq1(a: Any, b: Any) -> bool:
    return a == b and _same_kind(a, b)


def values_equal(a: Any, b: Any) -> bool:
    """Null-safe equality with any-value semantics for multi-valued sides."""
    if a is None or b is None:
        return a is None and b is None
    xs = a if type(a) is list else (a,)
    ys = b if type(b) is list else (b,)
    return any(_eq1(x, y) for x in xs for y in ys)


def values_order(op: Callable[[Any, Any], bool], a: Any, b: Any) -> bool | None:
    if a is None or b is None:
        return None
    xs = a if type(a) is list else (a,)
    ys = b if type(b) is list else (b,)
    seen = False
    for x in xs:
        for y in ys:
            if x is None or y is None or not _same_kind(x, y) or type(x) is dict or type(y) is dict:
                continue  # an object has no order (and no doc value)
            seen = True
            if op(x, y):
                return True
    return False if seen else None


def truth(v: Any) -> bool | None:
    if v is None or isinstance(v, bool):
        return v
    if type(v) is list:
        return truth(v[0])
    return bool(v)


OR_INDEX_MIN = 4  # branches on one field for `_or_terms` to look them up by its value


class ExprCompiler:
    """Compiles expressions for one index's field types; records the fields read."""

    def __init__(self, schema: FieldSchema, timestamp_field: str) -> None:
        self.schema = schema
        self.timestamp_field = timestamp_field
        self.fields: set[str] = set()

    def condition(self, node: Any) -> Callable[[Mapping[str, Any]], bool]:
        """An event filter, true where its closure returns True (None counts as false)."""
        if isinstance(node, A.Boolean):
            value = bool(node.value)
            return lambda src: value
        fn = self._query(node)
        if _is_boolean(node):
            return fn  # already True / False / None: no wrapper needed
        return lambda src: fn(src) is True

    def _query(self, node: Any) -> Fn:
        """A filter as Elasticsearch runs it: a query. It pushes `not` down to the leaves
        (De Morgan, negated comparisons), which Kleene logic over `compile`'s values
        matches, except at one kind of leaf: a string or CIDR function of a field and
        literals is a term-level query, false (never null) where the field is missing, so
        a `not` of it is true there."""
        if isinstance(node, A.And):
            terms = node.terms
            return self._and([self._strict_query(t) for t in terms], _movable_all(terms))
        if isinstance(node, A.Or):
            return self._or_terms(list(node.terms), self._strict_query)
        if isinstance(node, A.Not):
            return self._not(self._strict_query(node.term))
        if isinstance(node, A.Comparison) and node.comparator in ("==", "!="):
            # `f(x, "a") == false` is `not f(x, "a")` to Elasticsearch's optimizer
            call, flag = node.left, node.right
            if isinstance(call, A.Boolean):
                call, flag = flag, call
            term = isinstance(call, A.FunctionCall) and _is_term_query(call)
            if isinstance(flag, A.Boolean) and term:
                fn = self._query(call)
                if bool(flag.value) == (node.comparator == "=="):
                    return fn
                return lambda src: fn(src) is not True
        if isinstance(node, A.FunctionCall) and _is_term_query(node):
            name, args = str(node.name), list(node.arguments)
            query = self._string_query(name, args)
            if query is not None:
                return query
            fn = self.compile(node)
            return lambda src: fn(src) is True
        return self.compile(node)

    def _strict_query(self, node: Any) -> Fn:
        fn = self._query(node)
        if _is_boolean(node):
            return fn
        return lambda src: truth(fn(src))

    def _string_query(self, name: str, args: list[Any]) -> Fn | None:
        """`startsWith` (a prefix query), `endsWith` and `stringContains` (wildcard queries
        whose text is the literal unescaped: `*`, `?` and `\\` there are wildcard syntax)
        of a field: true when any value of the field matches, as term-level queries are."""
        base, insensitive = name.rstrip("~"), name.endswith("~")
        if base not in ("startswith", "endswith", "stringcontains"):
            return None
        text = self._normalized(args[0], args[1].value)
        match: Callable[[str], bool]
        if base != "startswith" and _WILDCARD_SYNTAX & set(text):
            text = f"*{text}*" if base == "stringcontains" else f"*{text}"
            try:
                match = compile_wildcard_query(text, insensitive)
            except PatternError as exc:
                raise QueryError(str(exc)) from None
        else:
            match = _plain_string_test(base, text, insensitive)
        return _text_test(self._as_value(args[0]), match)

    def compile(self, node: Any) -> Fn:
        if isinstance(node, A.Null):
            return lambda src: None
        if isinstance(node, A.Literal):
            value = node.value
            return lambda src: value
        if isinstance(node, A.Field):
            name, _ = field_name(node)
            self.fields.add(name)
            return make_reader(self.schema, name, self.timestamp_field)
        if isinstance(node, A.IsNull):
            fn = self.compile(node.expr)
            return lambda src: fn(src) is None
        if isinstance(node, A.IsNotNull):
            fn = self.compile(node.expr)
            return lambda src: fn(src) is not None
        if isinstance(node, A.Not):
            return self._not(self._strict(node.term))
        if isinstance(node, A.And):
            return self._and([self._strict(t) for t in node.terms], _movable_all(node.terms))
        if isinstance(node, A.Or):
            return self._or_terms(list(node.terms), self._strict)
        if isinstance(node, A.Comparison):
            return self._comparison(node.left, node.comparator, node.right)
        if isinstance(node, A.InSet):
            return self._in(node.expression, list(node.container), insensitive=False)
        if isinstance(node, A.MathOperation):
            return self._call(_MATH[node.operator], [node.left, node.right])
        if isinstance(node, A.FunctionCall):
            return self._function(str(node.name), list(node.arguments))
        raise QueryError(f"unsupported expression: {node}")

    # --- logic ---------------------------------------------------------------------------
    def _strict(self, node: Any) -> Fn:
        """A closure returning exactly True, False or None."""
        fn = self.compile(node)
        if _is_boolean(node):
            return fn
        return lambda src: truth(fn(src))

    @staticmethod
    def _not(fn: Fn) -> Fn:
        def f(src: Mapping[str, Any]) -> Any:
            v = fn(src)
            return None if v is None else not v

        return f

    @staticmethod
    def _and(fns: list[Fn], movable: bool = False) -> Fn:
        """Kleene `and`: False when a term is, else None when a term is, else True. Its
        value does not depend on the order of the terms, so when none of them can raise
        (`movable`), the order is learnt from the first events (`_ordered_and`)."""
        if movable and len(fns) > 1:
            return _ordered_and(fns)
        if len(fns) == 2:
            fa, fb = fns

            def and2(src: Mapping[str, Any]) -> Any:
                a = fa(src)
                if a is False:
                    return False
                b = fb(src)
                if b is False:
                    return False
                return True if a is True and b is True else None

            return and2

        def f(src: Mapping[str, Any]) -> Any:
            unknown = False
            for fn in fns:
                v = fn(src)
                if v is False:
                    return False
                if v is None:
                    unknown = True
            return None if unknown else True

        return f

    @staticmethod
    def _or(fns: list[Fn]) -> Fn:
        def f(src: Mapping[str, Any]) -> Any:
            unknown = False
            for fn in fns:
                v = fn(src)
                if v is True:
                    return True
                if v is None:
                    unknown = True
            return None if unknown else False

        return f

    def _or_terms(self, terms: list[Any], strict: Callable[[Any], Fn]) -> Fn:
        """An `or`, with its branches looked up by one field's value where many of them
        require that field to be one of some literals (`process.name : "x" and ...`).

        A branch holding a conjunct `field : ("a", "b")` (case-insensitive, no wildcard)
        is False for a string value other than those (an `and` with a False conjunct is
        False), so only the branches listed for the value, and those not indexed, are
        evaluated: the same True / False / None as every branch in turn. Other values
        (null, lists, numbers) evaluate every branch."""
        fns = [strict(t) for t in terms]
        keyed: dict[str, list[tuple[int, frozenset[str]]]] = {}
        nodes: dict[str, Any] = {}
        for k, term in enumerate(terms):
            seen = set()
            for conjunct in term.terms if isinstance(term, A.And) else [term]:
                found = self._exact_insensitive(conjunct)
                if found is not None and found[0] not in seen:
                    seen.add(found[0])
                    keyed.setdefault(found[0], []).append((k, found[2]))
                    nodes[found[0]] = found[1]
        best = max(keyed, key=lambda name: len(keyed[name]), default=None)
        if best is None or len(keyed[best]) < OR_INDEX_MIN:
            return self._or(fns)
        indexed = {k for k, _ in keyed[best]}
        others = [k for k in range(len(terms)) if k not in indexed]
        rest = self._or_terms([terms[k] for k in others], strict) if others else self._or([])
        branches: dict[str, list[int]] = {}
        for k, keys in keyed[best]:
            for key in keys:
                branches.setdefault(key, []).append(k)
        table = {key: self._or([*(fns[k] for k in ks), rest]) for key, ks in branches.items()}
        every = self._or(fns)
        subject = self._as_value(nodes[best])
        get = table.get

        def lookup(src: Mapping[str, Any]) -> Any:
            v = subject(src)
            if type(v) is str:
                return get(v.lower(), rest)(src)
            return every(src)

        return lookup

    def _exact_insensitive(self, node: Any) -> tuple[str, Any, frozenset[str]] | None:
        """(field name, field node, lower-cased values) of `field : ("a", ...)` without
        wildcards, as `_pattern` compares them; None for any other node."""
        if not (isinstance(node, A.FunctionCall) and str(node.name) == "$wildcard~"):
            return None
        field, *patterns = node.arguments
        if not isinstance(field, A.Field) or not patterns:
            return None
        if not all(isinstance(p, A.String) for p in patterns):
            return None
        texts = [self._normalized(field, p.value) for p in patterns]
        if not all(isinstance(t, str) and "*" not in t and "?" not in t for t in texts):
            return None
        return field_name(field)[0], field, frozenset(t.lower() for t in texts)

    # --- comparisons ---------------------------------------------------------------------
    def _typed_side(self, node: Any, other: Any) -> Fn:
        """Compile `node`, converting a literal to the type of the field on the other side
        (normalized as that field's keyword normalizer does, like Elasticsearch's term and
        range queries)."""
        if isinstance(node, A.Literal) and not isinstance(node, A.Null):
            ftype = self._field_type(other)
            value = _convert_literal(node.value, ftype, self._date_format(other))
            value = self._normalized(other, value)
            return lambda src: value
        fn = self.compile(node)
        if self._field_type(node) == "version":
            return lambda src: _versions(fn(src))
        return fn

    def _field_type(self, node: Any) -> str | None:
        if not isinstance(node, A.Field):
            return None
        return field_type(self.schema, field_name(node)[0], self.timestamp_field)

    def _normalizer(self, node: Any) -> str | None:
        """The keyword normalizer of the field `node` names (a `*.caseless` multi-field)."""
        if not isinstance(node, A.Field):
            return None
        _, spec = self.schema.resolve(field_name(node)[0])
        if spec is None or spec.type not in STRING_TYPES:
            return None
        return spec.normalizer

    def _normalized(self, field: Any, value: Any) -> Any:
        """A string literal as the field's normalizer indexes it."""
        normalizer = self._normalizer(field) if isinstance(value, str) else None
        return normalize(normalizer, value) if normalizer else value

    def _date_format(self, node: Any) -> str | None:
        if not isinstance(node, A.Field):
            return None
        _, spec = self.schema.resolve(field_name(node)[0])
        return spec.format if spec is not None else None

    def _comparison(self, left: Any, op: str, right: Any) -> Fn:
        if isinstance(left, A.Literal) and not isinstance(right, A.Literal):
            left, right, op = right, left, _FLIP[op]
        lf = self._typed_side(left, right)
        rf = self._typed_side(right, left)
        const = isinstance(right, A.Literal)
        if op in ("==", "!="):
            if const and not isinstance(right, A.Null):
                lit = rf({})
                eq = _const_eq(lf, lit)
            else:

                def eq(src: Mapping[str, Any]) -> bool:
                    return values_equal(lf(src), rf(src))

            if op == "==":
                return eq
            return lambda src: not eq(src)
        cmp = _ORDER[op]
        return lambda src: values_order(cmp, lf(src), rf(src))

    def _in(self, expr: Any, container: list[Any], insensitive: bool) -> Fn:
        fn = self._typed_side(expr, None)
        if all(isinstance(c, A.Literal) for c in container):
            ftype = self._field_type(expr)
            fmt = self._date_format(expr)
            lits = [
                self._normalized(expr, _convert_literal(c.value, ftype, fmt)) for c in container
            ]
            if insensitive:
                lowered = frozenset(x.lower() for x in lits if isinstance(x, str))
                return _any_value(fn, lambda v: isinstance(v, str) and v.lower() in lowered)
            if lits and all(isinstance(x, str) for x in lits):
                return _text_test(fn, frozenset(lits).__contains__, convert=False)
            return _any_value(fn, lambda v: any(_eq1(v, x) for x in lits))
        fns = [self.compile(c) for c in container]
        return lambda src: any(values_equal(fn(src), g(src)) for g in fns)

    # --- functions -----------------------------------------------------------------------
    def _function(self, name: str, args: list[Any]) -> Fn:
        if name in ("$wildcard", "$wildcard~", "$regex", "$regex~"):
            return self._pattern(name, args)
        if name == "$in~":
            return self._in(args[0], args[1:], insensitive=True)
        base, ci = name.rstrip("~"), name.endswith("~")
        impl, lo, hi, has_ci = F.FUNCTIONS[base]
        if not lo <= len(args) <= hi:
            raise QueryError(f"{base}() takes {lo}..{hi} arguments, got {len(args)}")
        if base in _PATTERN_FUNCTIONS and len(args) == 2 and isinstance(args[1], A.String):
            # on a field, Elasticsearch runs these as prefix / wildcard queries, which
            # normalize their text like any term-level query
            args = [args[0], A.String(self._normalized(args[0], args[1].value))]
        if base == "cidrmatch" and all(isinstance(a, A.String) for a in args[1:]):
            ranges = F.cidr_ranges([a.value for a in args[1:]])
            return _cidr(self.compile(args[0]), ranges)
        if ci and has_ci:
            return self._call(lambda *xs: impl(*xs, ci=True), args)
        return self._call(impl, args)

    def _call(self, impl: Callable[..., Any], args: list[Any]) -> Fn:
        fns = [self._as_value(a) for a in args]
        if len(fns) == 1:
            (a,) = fns
            return lambda src: impl(a(src))
        if len(fns) == 2:
            a, b = fns
            return lambda src: impl(a(src), b(src))
        return lambda src: impl(*(f(src) for f in fns))

    def _as_value(self, node: Any) -> Fn:
        """A function argument: dates are seen as Elasticsearch prints them (ISO, ms)."""
        fn = self.compile(node)
        if self._field_type(node) not in ("date", "date_nanos"):
            return fn

        def iso(src: Mapping[str, Any]) -> Any:
            v = fn(src)
            if type(v) is list:
                v = v[0]
            return format_iso_ms(v) if isinstance(v, int) else None

        return iso

    def _pattern(self, name: str, args: list[Any]) -> Fn:
        subject = self._as_value(args[0])
        # on a normalized keyword Elasticsearch normalizes wildcard and regexp patterns too
        # (elastic/elasticsearch#28894, #80189): `X.caseless regex "A.*"` never matches
        pats = [self._normalized(args[0], a.value) for a in args[1:] if isinstance(a, A.String)]
        if len(pats) != len(args) - 1:
            raise QueryError(f"pattern operators need string literals: {args[1:]}")
        insensitive = name.endswith("~")
        if name.startswith("$regex"):
            try:
                match = compile_regexes(pats, insensitive)
            except PatternError as exc:
                raise QueryError(str(exc)) from None
        else:
            match = compile_wildcards(pats, insensitive)
        return _text_test(subject, _remembered(match))


_PATTERN_FUNCTIONS = frozenset({"startswith", "endswith", "stringcontains"})

REMEMBER_VALUES = 256  # answers a pattern test keeps (then it forgets them all)
REMEMBER_LENGTH = 200  # longest value whose answer is kept


def _remembered(match: Callable[[str], bool]) -> Callable[[str], bool]:
    """`match` answering again from memory for a value it has seen: fields that patterns
    test repeat across events (a host runs the same programs from the same paths), and a
    look-up costs a fraction of a regex call through RE2's binding (~2-4 us) or a
    wildcard's. Short values only, and a few hundred, so the memory stays small."""
    memo: dict[str, bool] = {}
    get = memo.get

    def remembered(s: str) -> bool:
        found = get(s)
        if found is not None:
            return found
        found = match(s)
        if type(s) is str and len(s) <= REMEMBER_LENGTH:
            if len(memo) >= REMEMBER_VALUES:
                memo.clear()
            memo[s] = found
        return found

    return remembered


LEARN_EVENTS = 64  # events an `and` of movable terms times every term on before ordering


def _ordered_and(fns: list[Fn]) -> Fn:
    """An `and` that runs first the terms cheapest per False they give.

    Rules test first what nearly every event passes (`host.os.type == "windows" and
    event.type == "start"`) and last what singles out the event (a process name, a
    domain's TLD). For its first `LEARN_EVENTS` events the closure evaluates every term,
    timing each and counting its Falses; then it orders them by time per False (a term
    never False last, in written order), which minimises the expected time before the
    first False. Only terms that cannot raise are ordered this way (`_movable`), so the
    result is the same True / False / None, event by event, whatever order is learnt."""
    n = len(fns)
    order = list(fns)
    falses = [0] * n
    costs = [0] * n
    seen = 0
    learning = True
    clock = time.perf_counter_ns

    def learn(src: Mapping[str, Any]) -> Any:
        nonlocal seen, learning
        false = unknown = False
        for k, fn in enumerate(fns):
            t = clock()
            v = fn(src)
            costs[k] += clock() - t
            if v is False:
                falses[k] += 1
                false = True
            elif v is None:
                unknown = True
        seen += 1
        if seen >= LEARN_EVENTS:
            ranked = sorted(range(n), key=lambda k: costs[k] / falses[k] if falses[k] else math.inf)
            order[:] = [fns[k] for k in ranked]
            learning = False
        return False if false else (None if unknown else True)

    def ordered(src: Mapping[str, Any]) -> Any:
        if learning:
            return learn(src)
        unknown = False
        for fn in order:
            v = fn(src)
            if v is False:
                return False
            if v is None:
                unknown = True
        return None if unknown else True

    return ordered


_MOVABLE_CALLS = frozenset({"$wildcard", "$regex", "$in", *_TERM_FUNCTIONS})


def _movable(node: Any) -> bool:
    """Whether evaluating `node` can never raise: fields, literals, comparisons and sets
    of them, logic, and pattern / string / CIDR tests of a field against literals (their
    closures and the field readers handle every value shape). Math and other function
    calls are left where they are written."""
    if isinstance(node, A.Field | A.Literal):
        return True
    if isinstance(node, A.Comparison):
        return all(isinstance(side, A.Field | A.Literal) for side in (node.left, node.right))
    if isinstance(node, A.InSet):
        return isinstance(node.expression, A.Field) and all(
            isinstance(c, A.Literal) for c in node.container
        )
    if isinstance(node, A.Not):
        return _movable(node.term)
    if isinstance(node, A.IsNull | A.IsNotNull):
        return _movable(node.expr)
    if isinstance(node, A.And | A.Or):
        return _movable_all(node.terms)
    if isinstance(node, A.FunctionCall):
        args = list(node.arguments)
        return (
            str(node.name).rstrip("~") in _MOVABLE_CALLS
            and len(args) >= 2
            and isinstance(args[0], A.Field)
            and all(isinstance(a, A.String) for a in args[1:])
        )
    return False


def _movable_all(nodes: Any) -> bool:
    return all(_movable(n) for n in nodes)


def _any_value(fn: Fn, test: Callable[[Any], bool]) -> Fn:
    def f(src: Mapping[str, Any]) -> Any:
        v = fn(src)
        if v is None:
            return False
        if type(v) is list:
            return any(test(x) for x in v)
        return test(v)

    return f


def _text_test(fn: Fn, test: Callable[[str], bool], convert: bool = True) -> Fn:
    """`test` on a string value (any value of a multi-valued field); non-strings as text."""

    def f(src: Mapping[str, Any]) -> Any:
        v = fn(src)
        if type(v) is str:
            return test(v)
        if v is None:
            return False
        values = v if type(v) is list else (v,)
        for x in values:
            if type(x) is str:
                if test(x):
                    return True
            elif convert and test(F.string(x)):
                return True
        return False

    path = object_path(fn)
    if path is None:
        return f
    first, second = path

    def f2(src: Mapping[str, Any]) -> Any:
        """`f` with the usual string (or list of one) at `first.second` read inline."""
        o = src.get(first)
        if type(o) is dict:
            v = o.get(second)
            if type(v) is str:
                return test(v)
            if type(v) is list and len(v) == 1 and type(v[0]) is str:
                return test(v[0])
        return f(src)

    return f2


def _cidr(ip: Fn, ranges: Any) -> Fn:
    path = object_path(ip)
    if path is None:
        return lambda src: F.ip_in_ranges(ip(src), ranges)
    first, second = path

    def cidr2(src: Mapping[str, Any]) -> Any:
        o = src.get(first)
        if type(o) is dict:
            v = o.get(second)
            if type(v) is str:
                return F.ip_in_ranges(v, ranges)
        return F.ip_in_ranges(ip(src), ranges)

    return cidr2


def _const_eq(fn: Fn, lit: Any) -> Callable[[Mapping[str, Any]], bool]:
    if isinstance(lit, str):

        def eq_str(src: Mapping[str, Any]) -> bool:
            v = fn(src)
            return v == lit or (type(v) is list and lit in v)

        path = object_path(fn)
        if path is None:
            return eq_str
        first, second = path

        def eq_str2(src: Mapping[str, Any]) -> bool:
            """`eq_str` with the usual string (or list of one, as ECS writes
            `event.type`) at `first.second` read inline."""
            o = src.get(first)
            if type(o) is dict:
                v = o.get(second)
                if type(v) is str:
                    return v == lit
                if type(v) is list and len(v) == 1 and type(v[0]) is str:
                    return v[0] == lit
            return eq_str(src)

        return eq_str2

    def eq(src: Mapping[str, Any]) -> bool:
        v = fn(src)
        if v is None:
            return False
        if type(v) is list:
            return any(_eq1(x, lit) for x in v)
        return _eq1(v, lit)

    return eq


def _versions(v: Any) -> Any:
    if v is None:
        return None
    if type(v) is list:
        return [version_key(str(x)) for x in v]
    return version_key(str(v))


def _convert_literal(value: Any, ftype: str | None, fmt: str | None) -> Any:
    """A literal in the type of the field it is compared with (a date at its resolution)."""
    if ftype in ("date", "date_nanos"):
        nanos = ftype == "date_nanos"
        if isinstance(value, str):
            parsed = date_parser(fmt or DEFAULT_DATE_FORMAT, nanos)(value)
            if parsed is None:
                parsed = date_parser(DEFAULT_DATE_FORMAT, nanos)(value)
            return parsed
        return date_parser(DEFAULT_DATE_FORMAT, nanos)(value)
    if ftype == "version" and value is not None:
        return version_key(str(value))
    if ftype == "ip" and isinstance(value, str):
        return canonical_ip(value) or value
    return value
