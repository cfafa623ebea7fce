"""EQL text to an eql AST, under Elasticsearch's rules (the only module importing `eql`).

The `eql` walker folds several Elasticsearch operators together (`:`/`like`/`like~` all
become `wildcard`, `regex`/`regex~` become `match`, `in~` becomes `in`, `startsWith~` loses its
`~`), so a subclass records the case-sensitivity in the function names it emits. It also
marks optional fields (`?x`) by a leading `?` in the field base, accepts `?x == ?y`, and
rejects what Elasticsearch does not run, naming the construct and its line:column.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from lark import Lark

from eqlwatch.engine.grammar_cache import kept_tables
from eqlwatch.engine.syntax import explain
from eqlwatch.errors import Location, QueryError

with kept_tables():  # eql builds its Lark parser when imported: from kept tables if any
    import eql  # type: ignore[import-untyped,unused-ignore]
from eql import ast as eql_ast
from eql.errors import EqlError, EqlParseError
from eql.parser import KvTree, LarkToEQL, lark_parser

# The AST node classes the rest of the engine inspects, handed out from here so that this
# stays the one module importing `eql`.
nodes = eql_ast

# Elasticsearch EQL's function set (lower-cased); `~` forms exist for the string ones.
ES_FUNCTIONS = frozenset(
    {
        "add",
        "between",
        "cidrmatch",
        "concat",
        "divide",
        "endswith",
        "indexof",
        "length",
        "modulo",
        "multiply",
        "number",
        "startswith",
        "string",
        "stringcontains",
        "substring",
        "subtract",
    }
)
ARRAY_FUNCTIONS = frozenset({"arraycontains", "arraycount", "arraysearch"})
SUPPORTED_PIPES = frozenset({"head", "tail"})

# Names the walker emits for operators, so the compiler knows their exact semantics.
OP_NAMES = {
    ":": "$wildcard~",
    "like": "$wildcard",
    "like~": "$wildcard~",
    "regex": "$regex",
    "regex~": "$regex~",
}
IN_INSENSITIVE = "$in~"


@dataclass(frozen=True, slots=True)
class ParsedStage:
    """One bracketed filter of a sequence or sample, with its join keys."""

    event_type: str
    condition: Any
    keys: tuple[Any, ...]
    missing: bool


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    """The pieces of a query the compiler needs, independent of eql's AST classes."""

    kind: str  # "event" | "sequence" | "sample"
    stages: tuple[ParsedStage, ...]  # one stage for an event query
    until: ParsedStage | None
    maxspan_ms: int | None
    pipes: tuple[tuple[str, int], ...]


_FIELD_PATHS: dict[tuple[str, bool], tuple[bool, tuple[str | int, ...]]] = {}


class _EsWalker(LarkToEQL):  # type: ignore[misc]
    """eql's walker, keeping what Elasticsearch distinguishes and rejecting what it lacks."""

    def _field_path(self, node: Any, allow_optional: bool = False) -> Any:
        """eql re-parses every field name with Lark; the answer depends on the text alone,
        and a thousand rules name the same few hundred fields. Errors are not kept."""
        key = (str(node.children[-1]), allow_optional)
        known = _FIELD_PATHS.get(key)
        if known is None:
            optional, path = super()._field_path(node, allow_optional)
            known = _FIELD_PATHS[key] = (optional, tuple(path))
        return known[0], list(known[1])

    def field(self, node: Any) -> Any:
        info = super().field(node)
        if any(isinstance(part, int) for part in info.node.path):
            raise self._error(node, "Array indexing (field[n]) is not supported")
        if str(node.children[-1]).startswith("?"):
            field = info.node
            info.node = eql_ast.Field("?" + field.base, list(field.path))
        return info

    def validate_signature(self, node: Any, signature: Any, arguments: Any) -> Any:
        """eql names the function `None` in "Expected at least 1 argument to function None"."""
        try:
            return super().validate_signature(node, signature, arguments)
        except EqlError as exc:
            message = getattr(exc, "error_msg", "")
            if message.endswith(" None"):
                exc.error_msg = message.removesuffix("None") + f"{signature.name}()"
            raise

    def _check_elasticsearch_field_comparison(
        self, node: Any, left: Any, right: Any, op: Any
    ) -> None:
        if _is_optional(left.node) or _is_optional(right.node):
            return
        super()._check_elasticsearch_field_comparison(node, left, right, op)

    def string_predicate(self, node: Any) -> Any:
        predicate = str(node["STRING_PREDICATE"])
        info = super().string_predicate(node)
        info.node = eql_ast.FunctionCall(OP_NAMES[predicate], list(info.node.arguments))
        return info

    def in_set(self, node: Any) -> Any:
        info = super().in_set(node)
        members = info.node.container
        if any(not isinstance(m, eql_ast.Literal) for m in members):
            raise self._error(node, "Comparisons against fields are not supported in [in]")
        if node.get("IN") == "in~":
            term = info.node
            info.node = eql_ast.FunctionCall(IN_INSENSITIVE, [term.expression, *term.container])
        return info

    def function_call(self, node: Any, prev_node: Any = None, prev_arg: Any = None) -> Any:
        name_node = node["method_name"] if node.data == "method" else node.children[0]
        raw = str(self.name(name_node) if node.data != "method" else self.method_name(name_node))
        base = raw.rstrip("~").lower()
        if base in ARRAY_FUNCTIONS:
            raise self._error(name_node, f"Array function {raw}() is not supported")
        if base not in ES_FUNCTIONS:
            raise self._error(name_node, f"Unknown function {raw}()")
        info = super().function_call(node, prev_node, prev_arg)
        if isinstance(info.node, eql_ast.FunctionCall):
            info.node.name = base + ("~" if raw.endswith("~") else "")
        return info

    def pipe(self, node: Any) -> Any:
        name = str(self.visit(node["name"]))
        if name not in SUPPORTED_PIPES:
            raise self._error(node["name"], f"Pipe '{name}' is not supported (only head, tail)")
        return super().pipe(node)

    def subquery_by(self, node: Any, *args: Any, **kwargs: Any) -> Any:
        if node["fork_param"] is not None:
            raise self._error(node["fork_param"], "fork is not supported")
        wanted = kwargs.get("num_values", args[0] if args else None)
        values = node["join_values"]
        given = values["expressions"].children if values else []
        if wanted is not None and 0 < len(given) < wanted:
            # eql itself indexes past the last value here (IndexError), so say it first
            plural = "" if wanted == 1 else "s"
            raise self._error(given[-1], f"Expected {wanted} join value{plural}, got {len(given)}")
        return super().subquery_by(node, *args, **kwargs)

    def sequence(self, node: Any) -> Any:
        seq = super().sequence(node)
        if len(seq.queries) < 2:
            raise self._error(node, "A sequence needs at least two queries")
        if all(q.data.get("is_negated", False) for q in seq.queries):
            raise self._error(node, "A sequence needs at least one query that is not ![...]")
        return seq

    def join(self, node: Any) -> Any:
        raise self._error(node, "join is not supported")

    def named_subquery(self, node: Any) -> Any:
        name = str(self.visit(node["name"]))
        raise self._error(node, f"lineage '{name} of' is not supported")


def _is_optional(node: Any) -> bool:
    return isinstance(node, eql_ast.Field) and str(node.base).startswith("?")


_AT_FIELD = re.compile(r"@[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_@][A-Za-z0-9_]*)*")


# What quote_at_fields steps over whole (strings, backquoted names; an unclosed one runs to
# the end) or backquotes (a bare `@name`), in the order they are tried at each character.
_QUOTE_TOKENS = re.compile(
    r'"""[\s\S]*?(?:"""|\Z)'
    r'|"(?:\\[\s\S]?|[^"\\])*(?:"|\Z)'
    r"|`[^`]*(?:`|\Z)"
    rf"|(?P<at>{_AT_FIELD.pattern})"
)


def quote_at_fields(text: str) -> tuple[str, list[tuple[int, int]]]:
    """Backquote bare `@timestamp`-style names outside strings (eql's grammar lacks them).

    Also returns where quotes were added, as (line, column) of the original text, so
    error positions can be mapped back.
    """
    if "@" not in text:
        return text, []
    out: list[str] = []
    added: list[tuple[int, int]] = []
    copied = 0
    for match in _QUOTE_TOKENS.finditer(text):
        if match.group("at") is None:
            continue
        i = match.start()
        line = text.count("\n", 0, i) + 1
        added.append((line, i - (text.rfind("\n", 0, i) + 1) + 1))
        out.append(text[copied:i])
        out.append(f"`{match.group(0)}`")
        copied = match.end()
    out.append(text[copied:])
    return "".join(out), added


def _original_column(line: int, column: int, added: list[tuple[int, int]]) -> int:
    """Map a column of the quoted text back to the user's text."""
    for at_line, at_col in sorted(added):
        if at_line == line and at_col < column:
            column -= 2 if column > at_col + 1 else 1
    return column


class _Optimizer(eql.optimizer.Optimizer):  # type: ignore[misc]
    """eql's bottom-up optimizer, minus its walker's bookkeeping, with literal sets as
    Elasticsearch compares them.

    eql's walker pushes a context (entry and exit hooks, a method lookup) for every node,
    list and string, which made the optimizer a third of parsing a rule; its rewrites read
    no context. One instance serves every parse: the per-class method lookup is cached and
    the walk keeps no state. `test_parse_once.py` checks the output equals eql's own
    optimizer wherever eql's set rewrites are right; `test_literal_sets.py` where they
    are not (see `_walk_or`).
    """

    def __init__(self) -> None:
        super().__init__(recursive=True)
        self._methods: dict[type, Any] = {}

    def walk(self, node: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(node, list):
            return [self.walk(n) for n in node]
        if isinstance(node, tuple):
            return tuple(self.walk(n) for n in node)
        if isinstance(node, dict):
            return {self.walk(k): self.walk(v) for k, v in node.items()}
        cls = type(node)
        method = self._methods.get(cls)
        if method is None:
            method = self._methods[cls] = self.get_node_method(cls, "_walk_")
        if isinstance(node, eql_ast.BaseNode):
            node = cls(*[self.walk(value) for _, value in node.iter_slots()])
        return method(node)

    @staticmethod
    def _walk_function_call(node: Any) -> Any:
        """Calls are left to the engine, literal arguments or not: eql folded them with its
        own functions, which are not Elasticsearch's (`between("abc", "A", "C")` folded to
        "b", case-insensitively; `modulo(-7, 3)` to 2, the Python way). eql's walk also
        optimized every argument again: this one is bottom-up, so they already are."""
        return eql_ast.FunctionCall(node.name, list(node.arguments), node.as_method)

    @staticmethod
    def _walk_math_operation(node: Any) -> Any:
        """eql's `a + (0 - b)` -> `a - b`, and `0 - n` folded to the number -n (how a
        negative literal parses); other arithmetic on literals is left to the engine, whose
        `/` and `%` truncate toward zero as Elasticsearch's do (eql folded `-7 / 2` to -4)."""
        left, operator, right = node.left, node.operator, node.right
        zero = eql_ast.Number(0)
        negated = isinstance(right, eql_ast.MathOperation) and right.left == zero
        if negated and operator in ("-", "+") and right.operator in ("-", "+"):
            flipped = "-" if (operator == "-") ^ (right.operator == "-") else "+"
            return eql_ast.MathOperation(left, flipped, right.right)
        if operator == "-" and left == zero and isinstance(right, eql_ast.Number):
            return eql_ast.Number(-right.value)
        return eql_ast.MathOperation(left, operator, right)

    @staticmethod
    def _walk_in_set(node: Any) -> Any:
        return _one_of(node.expression, list(node.container))

    @staticmethod
    def _walk_or(node: Any) -> Any:
        """Adjacent equality tests of one expression become one set, as in eql, with two
        of eql's rewrites put right: its sets kept one literal per case-folded value
        (`x in ("a", "A")` became `x == "a"`; `in` and `==` are case-sensitive in
        Elasticsearch), and `x in (...) or x != "c"` (any comparison, not only `==`) took
        "c" into the set. And in one pass: eql rebuilt and re-optimized the whole set at
        each term (a 5,000-term `or` took 21 s)."""
        terms: list[Any] = []
        current = node.terms[0]
        run = _equality_set(current)  # the literals `current` is tested for equality with
        merged = False
        for term in node.terms[1:]:
            found = _equality_set(term)
            if run is not None and found is not None and found[0] == run[0]:
                run[1].extend(found[1])
                merged = True
                continue
            if merged and run is not None:
                current = _one_of(*run)
            merged = False
            current = _either(current, term)
            if isinstance(current, eql_ast.Or):
                terms.extend(current.terms[:-1])
                current = current.terms[-1]
            run = _equality_set(current)
        if merged and run is not None:
            current = _one_of(*run)
        if terms:
            return _either(eql_ast.Or(terms), current)
        return current

    @staticmethod
    def _walk_and(node: Any) -> Any:
        """eql's intersections and differences of literal sets, by exact value."""
        terms: list[Any] = []
        current = node.terms[0]
        for term in node.terms[1:]:
            current = _both(current, term)
            if isinstance(current, eql_ast.And):
                terms.extend(current.terms[:-1])
                current = current.terms[-1]
        if terms:
            return _all(eql_ast.And(terms), current)
        return current

    @staticmethod
    def _walk_comparison(node: Any) -> Any:
        """eql's folding of two literals, without folding their case."""
        if isinstance(node.left, eql_ast.Literal) and isinstance(node.right, eql_ast.Literal):
            left, right = node.left.value, node.right.value
            if left is None or right is None:
                return eql_ast.Null()
            try:
                return eql_ast.Boolean(node.function(left, right))
            except TypeError:  # a string against a number: left to the engine
                return node
        if node.left == node.right:
            return eql_ast.Boolean(node.comparator in ("==", "<=", ">="))
        return node


def _member(literal: Any) -> tuple[type, Any]:
    """Two literals are one member of a set when Elasticsearch finds them equal: same
    kind, same value (1 and 1.0 are one number; "a" and "A" two strings)."""
    return type(literal), literal.value


def _one_of(expression: Any, literals: list[Any]) -> Any:
    """`expression` equal to one of `literals` (eql's set optimization, by exact value)."""
    if isinstance(expression, eql_ast.Literal):
        found = _member(expression) in {_member(v) for v in literals}
        return eql_ast.Boolean(found)
    distinct: dict[tuple[type, Any], Any] = {}
    for literal in literals:
        distinct.setdefault(_member(literal), literal)
    if not distinct:
        return eql_ast.Boolean(False)
    if len(distinct) == 1:
        (only,) = distinct.values()
        return eql_ast.Comparison(expression, "==", only)
    return eql_ast.InSet(expression, list(distinct.values()))


def _equality_set(node: Any) -> tuple[Any, list[Any]] | None:
    """(expression, literals) when `node` tests one expression for equality with literals."""
    if isinstance(node, eql_ast.InSet) and node.is_literal():
        return node.expression, list(node.container)
    if _is_equality(node):
        return node.left, [node.right]
    return None


def _is_equality(node: Any) -> bool:
    """`node` is `expression == literal`."""
    return (
        isinstance(node, eql_ast.Comparison)
        and node.comparator == "=="
        and isinstance(node.right, eql_ast.Literal)
    )


_TRUE, _FALSE = eql_ast.Boolean(True), eql_ast.Boolean(False)


def _either(left: Any, right: Any) -> Any:
    """`left or right`, flattened, `true` and `false` folded as eql does; a `null` is
    kept (eql made the whole `or` null, so `x or null` never matched where x is true)."""
    if left == _TRUE or right == _TRUE:
        return _TRUE
    if left == _FALSE or right == _FALSE:
        return right if left == _FALSE else left
    return eql_ast.Or(_flat(left, eql_ast.Or) + _flat(right, eql_ast.Or))


def _all(left: Any, right: Any) -> Any:
    """`left and right`, as `_either` (`x and null` is false where x is, not null)."""
    if left == _FALSE or right == _FALSE:
        return _FALSE
    if left == _TRUE or right == _TRUE:
        return right if left == _TRUE else left
    return eql_ast.And(_flat(left, eql_ast.And) + _flat(right, eql_ast.And))


def _flat(node: Any, kind: Any) -> list[Any]:
    return list(node.terms) if isinstance(node, kind) else [node]


def _both(left: Any, right: Any) -> Any:
    """`left and right`, with eql's rewrites of a literal set and a test of the same
    expression (intersection, difference), members compared by exact value."""
    as_set = left
    if _is_equality(left) and isinstance(right, eql_ast.InSet):
        as_set = eql_ast.InSet(left.left, [left.right])  # eql: `x == a and x in (...)`
    if isinstance(as_set, eql_ast.InSet) and as_set.is_literal():
        kept = _set_and(as_set, right)
        if kept is not None:
            return _one_of(as_set.expression, kept)
    return _all(left, right)


def _set_and(left: Any, right: Any) -> list[Any] | None:
    """The members of `left` (a literal set) that `right` keeps, when `right` tests the
    same expression for equality (`==`, `in`) or inequality (`!=`, `not in`) with
    literals; None otherwise."""
    negated = False
    if isinstance(right, eql_ast.Not) and isinstance(right.term, eql_ast.InSet):
        right, negated = right.term, True
    elif isinstance(right, eql_ast.Comparison) and right.comparator == "!=":
        right, negated = eql_ast.Comparison(right.left, "==", right.right), True
    found = _equality_set(right)
    if found is None or found[0] != left.expression:
        return None
    members = {_member(v) for v in found[1]}
    return [v for v in left.container if (_member(v) in members) != negated]


_OPTIMIZER = _Optimizer()


CACHE_SIZE = 8192  # parses kept per process: well above the largest public rule set
_PARSED: dict[str, ParsedQuery] = {}


def parse(text: str) -> ParsedQuery:
    """Parse `text` once per process; raise QueryError with the line and column of a problem.

    The result is shared by every compile of the same text (it is never mutated), so a
    rule checked by the loader and then run by a job or a hunt is parsed once. Errors are
    not kept: a broken query raises again each time.
    """
    known = _PARSED.get(text)
    if known is None:
        known = _parse_text(text)
        remember(text, known)
    return known


def known_parse(text: str) -> ParsedQuery | None:
    """This process's parse of `text`, if it has one."""
    return _PARSED.get(text)


def remember(text: str, parsed: ParsedQuery) -> None:
    """Keep `parsed` as the parse of `text` (a cache across processes hands them in)."""
    if len(_PARSED) >= CACHE_SIZE:
        _PARSED.clear()
    _PARSED[text] = parsed


def clear_cache() -> None:
    """Forget every parse (benches measure the first one)."""
    _PARSED.clear()


def _parse_text(text: str) -> ParsedQuery:
    if not text.strip():
        raise QueryError("empty query", location=Location(line=1, column=1))
    source, added = quote_at_fields(text)
    try:
        node = _walk(source + "\n")
    except EqlParseError as exc:
        line = exc.line + 1
        column = _original_column(line, exc.column + 1, added)
        raise QueryError(exc.error_msg, location=Location(line=line, column=column)) from None
    except EqlError as exc:
        raise QueryError(str(exc)) from None
    return _convert(node)


@cache
def _fast_parser() -> Lark:
    """eql's grammar tables without position tracking: a third of Lark's time was spent
    copying line and column into every tree node, which only an error message reads.
    Loaded from the bytes eql's parser came from when it was kept (saving them again cost
    ~16 ms of every command's start-up)."""
    kept = getattr(lark_parser, "kept", None)
    if kept is not None:
        fast: Lark = kept.load(propagate_positions=False, tree_class=KvTree)
        return fast
    tables = io.BytesIO()
    lark_parser.save(tables)
    tables.seek(0)
    loaded: Lark = Lark.__new__(Lark)._load(tables, propagate_positions=False, tree_class=KvTree)
    return loaded


def _walk(source: str) -> Any:
    """The optimized eql AST of `source`; errors carry the line and column of the problem.

    The tree is built without positions; when the text has a problem, it is parsed again
    with them (as eql does) so the error points at the right place.
    """
    cfg = eql.parser
    with (
        cfg.elasticsearch_syntax,
        cfg.allow_sample,
        cfg.allow_runs,
        cfg.allow_negation,
        cfg.ignore_missing_functions,
        cfg.ParserConfig(implied_any=False, implied_base=False, allow_subqueries=True),
    ):
        eql.load_extensions(force=False)
        try:
            result = _EsWalker(source).visit(_fast_parser().parse(source, start="piped_query"))
        except Exception:  # any problem: report it as the positional parse finds it
            result = _walk_with_positions(source)
        return _OPTIMIZER.walk(getattr(result, "node", result))


def _walk_with_positions(source: str) -> Any:
    """eql's own parse (every tree node placed), for the line:column of an error."""
    walker = _EsWalker(source)
    try:
        tree = lark_parser.parse(source, start="piped_query")
    except Exception as exc:  # lark's error types vary by version
        message, line, column = explain(exc, source)
        text = walker.lines[line - 1] if 0 < line <= len(walker.lines) else ""
        raise EqlParseError(message, line - 1, column - 1, text) from None
    return walker.visit(tree)


def _convert(node: Any) -> ParsedQuery:
    first = node.first
    pipes = tuple(
        (type(p).__name__.removesuffix("Pipe").lower(), _pipe_count(p)) for p in node.pipes
    )
    if isinstance(first, eql_ast.EventQuery):
        stage = ParsedStage(first.event_type, first.query, (), False)
        return ParsedQuery("event", (stage,), None, None, pipes)
    stages = tuple(_stage(q) for q in first.queries)
    if isinstance(first, eql_ast.Sample):
        return ParsedQuery("sample", stages, None, None, pipes)
    until = _stage(first.close) if first.close is not None else None
    maxspan = first.max_span.as_milliseconds() if first.max_span is not None else None
    return ParsedQuery("sequence", stages, until, maxspan, pipes)


def _stage(sub: Any) -> ParsedStage:
    missing = bool(sub.data.get("is_negated", False)) if sub.data else False
    return ParsedStage(sub.query.event_type, sub.query.query, tuple(sub.join_values), missing)


def _pipe_count(pipe: Any) -> int:
    if pipe.arguments:
        return int(pipe.arguments[0].value)
    return 50
