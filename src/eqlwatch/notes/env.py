"""The one Jinja environment notes are rendered in: jinja's immutable sandbox, bounded.

`ImmutableSandboxedEnvironment` keeps templates away from Python internals and from
mutating what they are given; `StrictUndefined` turns a misspelt name into an error
instead of an empty string. Autoescape is off because notes are Markdown, not HTML: values
are inserted as text and nothing in them is interpreted by Jinja.

`NoteEnvironment` adds size checks (`eqlwatch.notes.limits`): operators, filters and
string methods that could build a value far bigger than their inputs refuse one past the
output limit before building it. Notes render for every alert, so it also takes direct
paths where the sandbox's checks provably pass (plain dicts, event views, helpers, macros;
see its methods); `reference_environment` is jinja's sandbox unchanged, for tests and
benches to compare against: the text must be the same.
Templates come from the job's folder first, then from the package (`default.md.j2` and
`_macros.md.j2` ship inside eqlwatch, so notes render from any directory).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping
from functools import update_wrapper
from pathlib import Path
from types import BuiltinMethodType, FunctionType, MethodType
from typing import Any

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    FileSystemLoader,
    StrictUndefined,
    nodes,
    pass_eval_context,
)
from jinja2 import filters as jinja_filters
from jinja2.compiler import CodeGenerator, Frame
from jinja2.environment import TemplateModule
from jinja2.runtime import Context, LoopContext, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace
from markupsafe import Markup

from eqlwatch.enrich import Enrichment
from eqlwatch.notes import limits
from eqlwatch.notes.bytecode import bytecode_cache
from eqlwatch.notes.limits import RenderLimits
from eqlwatch.notes.view import EventView, field
from eqlwatch.rules.fields import MISSING

PACKAGED_TEMPLATES = Path(__file__).resolve().parent / "templates"


def _join_nonempty(values: object, sep: str = ", ") -> str:
    if not isinstance(values, list | tuple):
        return "" if values is None else str(values)
    return sep.join(str(v) for v in values if v not in (None, ""))


def ip_rows(source: object) -> list[dict[str, Any]]:
    """Template helper: IP rows as plain dicts, from an Enrichment or an existing list.

    An Enrichment's rows come from its shared document (built once per hit, also the
    context's `ips`); templates cannot change them in the immutable sandbox.
    """
    if isinstance(source, Enrichment):
        rows: list[dict[str, Any]] = source.document()["ips"]
        return rows
    return list(source) if isinstance(source, list | tuple) else []


_DICT_ATTRIBUTES = frozenset(dir(dict))
_DICT_READERS = frozenset(("get", "items", "keys", "values"))

# What the sandbox and `Context.call` read off a callable: a function or macro that has none
# of these is called plainly (safe, nothing injected but the macro's eval context).
_CALL_FLAGS = frozenset(("unsafe_callable", "alters_data", "jinja_pass_arg"))
_EVAL_CONTEXT = getattr(pass_eval_context(lambda: None), "jinja_pass_arg", None)
# `Macro.__call__` takes the eval context (for autoescape) and nothing else is injected.
_MACRO_PLAIN = not any(hasattr(Macro, flag) for flag in _CALL_FLAGS) and (
    getattr(Macro.__call__, "jinja_pass_arg", None) is _EVAL_CONTEXT is not None
    and not any(hasattr(Macro.__call__, f) for f in ("unsafe_callable", "alters_data"))
)
# Objects whose public attributes the sandbox hands out as they are: not Python internals,
# not a mutable list/dict/set/deque (tests/notes/test_env_fast.py checks both), so its only
# checks are the leading underscore and `str.format` methods (bound to a string, never here).
_ORDINARY = frozenset((TemplateModule, Namespace, LoopContext, Enrichment))
_PLAIN_CLASSES = frozenset(c for c in (Namespace,) if not any(hasattr(c, f) for f in _CALL_FLAGS))
_STOP_ITERATION = "value was undefined because a callable raised a StopIteration exception"


class _ConcatGenerator(CodeGenerator):
    """Jinja's code generator, with `a ~ b` joined by `environment.concat` (size-checked).

    Jinja compiles `~` to a join imported from its runtime, the one string operation a
    sandboxed environment cannot intercept; everything else is jinja's own code.
    """

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.concat((")
        for arg in node.nodes:
            self.write("str(")
            self.visit(arg, frame)
            self.write("), ")
        self.write("))")


class NoteEnvironment(ImmutableSandboxedEnvironment):
    """The immutable sandbox with every value-growing operation bounded by `max_chars`."""

    code_generator_class = _ConcatGenerator
    intercepted_binops = frozenset(("*", "**", "+", "%"))

    def __init__(self, render_limits: RenderLimits, **options: Any) -> None:
        super().__init__(**options)
        self.render_limits = render_limits
        self.ordinary = _ORDINARY  # classes whose public attributes need no sandbox check
        self.plain_classes = _PLAIN_CLASSES  # classes called without the sandbox's checks
        self.concat = self._concat  # type: ignore[method-assign]  # macro and block buffers too

    def _concat(self, parts: Iterable[str]) -> str:
        pieces = parts if type(parts) is list else list(parts)
        limits.too_big(sum(map(len, pieces)), self.render_limits.max_chars)
        return "".join(pieces)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        limits.check_binop(operator, left, right, self.render_limits.max_chars)
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """`str.format`/`format_map` as the sandbox wraps them, with field widths bounded."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt, is_map, limit = value.__self__, value.__name__ == "format_map", self.max_chars

        def checked(*args: Any, **kwargs: Any) -> str:
            mapping = args[0] if is_map and args and isinstance(args[0], dict) else kwargs
            limits.check_str_format(fmt, () if is_map else args, mapping, limit)
            return wrapped(*args, **kwargs)

        return update_wrapper(checked, value)

    @property
    def max_chars(self) -> int:
        return self.render_limits.max_chars

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        """A template's globals as one plain dict instead of jinja's ChainMap.

        Every render copies the globals into a fresh context; copying a ChainMap goes
        through its pure-Python mapping methods (~5 µs a render), a dict copies in C. The
        environment's globals are complete before any template loads (`make_environment`)
        and never change afterwards, so a snapshot sees exactly what the ChainMap would.
        """
        return {**self.globals, **(d or {})}

    def call(
        __self,
        __context: Context,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """`SandboxedEnvironment.call`, skipping its checks where they cannot fail.

        Helpers, dict readers and simple macro calls make up nearly every call in a note.
        For functions (and their methods) without attributes, builtin methods and plain
        classes, the sandbox's `unsafe_callable`/`alters_data` checks and `Context.call`'s
        `jinja_pass_arg` introspection always conclude "call it as it is"; a macro given
        exactly its parameters by position is what `Macro.__call__` hands straight to its
        body. Everything else takes the normal path. String methods that can grow the
        string (`center`, `replace`, `join`...) are size-checked first.
        """
        kind = type(__obj)
        if kind is FunctionType:
            plain = not __obj.__dict__
        elif kind is Macro and _MACRO_PLAIN:  # takes the eval context only: loop vars unused
            if kwargs:
                kwargs.pop("_block_vars", None)
                kwargs.pop("_loop_vars", None)
            if not kwargs and _direct_macro_call(__obj, len(args)):
                try:
                    text = __obj._func(*args)
                except StopIteration:
                    return __self.undefined(_STOP_ITERATION)
                # As `Macro._invoke`: under autoescape the body has escaped its output already.
                return Markup(text) if __context.eval_ctx.autoescape else text  # noqa: S704
            plain = False
        elif kind is MethodType:
            plain = type(__obj.__func__) is FunctionType and not __obj.__func__.__dict__
        elif kind is BuiltinMethodType:
            if isinstance(__obj.__self__, str | bytes):
                _check_text_method(__obj.__name__, __obj.__self__, args, kwargs, __self.max_chars)
            plain = True
        else:
            plain = kind is type and __obj in __self.plain_classes
        if not plain:
            result = super().call(__context, __obj, *args, **kwargs)
            if isinstance(result, str | bytes | list | tuple):
                limits.too_big(len(result), __self.max_chars)
            return result
        if kwargs:
            kwargs.pop("_block_vars", None)
            kwargs.pop("_loop_vars", None)
        try:
            return __obj(*args, **kwargs)
        except StopIteration:
            return __self.undefined(_STOP_ITERATION)

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is EventView and not attribute.startswith("_"):
            if attribute == "get":
                return obj.get
            value = obj.get(attribute, MISSING)
            return self.undefined(obj=obj, name=attribute) if value is MISSING else value
        if type(obj) is dict:
            if attribute not in _DICT_ATTRIBUTES:
                value = obj.get(attribute, MISSING)  # what the sandbox returns, minus the detour
                if value is not MISSING:
                    return value
            elif attribute in _DICT_READERS:  # the sandbox allows these: they change nothing
                return getattr(obj, attribute)
        elif type(obj) in self.ordinary and not attribute.startswith("_"):
            # No such attribute, or a method bound elsewhere (a `str.format` needs the
            # sandbox's wrapper): the sandbox decides. Else its checks would all pass.
            value = getattr(obj, attribute, MISSING)
            kind = type(value)
            if value is not MISSING and (
                (kind is not MethodType and kind is not BuiltinMethodType) or value.__self__ is obj
            ):
                return value
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if type(obj) is dict:  # most lookups: the context's plain data
            try:
                return obj[argument]
            except (TypeError, LookupError):
                return super().getitem(obj, argument)
        if type(obj) is EventView and isinstance(argument, str):
            value = obj.get(argument, MISSING)
            if value is not MISSING:
                return value
            # Not a field: the sandbox then tries the attribute (`ev["get"]` is the method).
            return super().getitem(obj, argument)
        try:
            return obj[argument]  # the sandbox's own first step, one call earlier
        except (TypeError, LookupError):
            return super().getitem(obj, argument)


def _direct_macro_call(macro: Macro, count: int) -> bool:
    """A call that `Macro.__call__` would pass straight to the macro's body.

    All parameters given by position, no caller, no `*varargs`/`**kwargs` collection, and
    no flag on the macro object that the sandbox or `Context.call` would act on.
    """
    return (
        count == macro._argument_count
        and _CALL_FLAGS.isdisjoint(macro.__dict__)
        and not (macro.caller or macro.catch_kwargs or macro.catch_varargs)
        and not macro._environment.is_async
    )


def _check_text_method(
    name: str, text: str | bytes, args: tuple[Any, ...], kwargs: dict[str, Any], limit: int
) -> None:
    """Pre-checks for `str`/`bytes` methods whose result can dwarf the string."""
    if name in ("center", "ljust", "rjust", "zfill"):
        limits.check_width(text, args[0] if args else kwargs.get("width"), limit)
    elif name == "expandtabs" and isinstance(text, str):
        limits.check_expandtabs(text, args[0] if args else kwargs.get("tabsize", 8), limit)
    elif name == "replace" and isinstance(text, str) and len(args) >= 2:
        limits.check_replace(text, args[0], args[1], args[2] if len(args) > 2 else -1, limit)
    elif name == "join" and args:
        items = args[0]
        if not isinstance(items, list | tuple):
            raise limits.TemplateLimitError("join() in a note takes a list or tuple")
        limits.check_join(list(items), text, limit)


class _BoundedNamespace(Namespace):
    """`namespace()` whose attributes (`{% set ns.x = ... %}`) are size-checked."""

    def __init__(*args: Any, **kwargs: Any) -> None:
        Namespace.__init__(*args, **kwargs)  # jinja's signature: (self, *args, **kwargs)

    def __setitem__(self, name: str, value: Any) -> None:
        if isinstance(value, str | bytes | list | tuple):
            limits.too_big(len(value), type(self).limit)
        super().__setitem__(name, value)

    limit = limits.DEFAULT_MAX_CHARS


def _bounded_filters(limit: int) -> dict[str, Callable[..., Any]]:
    """Jinja's filters that can grow their input, checked first; the rest are unchanged."""
    budget = 16 * limit  # items or chars one materialised list may hold

    def take(value: Any) -> list[Any]:
        """`list(value)`, refusing to build more than `budget` chars/items on the way."""
        kind = type(value)
        if kind is list or kind is tuple:
            return list(value)  # references to values that exist already: nothing grows
        if isinstance(value, str):
            limits.too_big(len(value), budget)  # one string per character
            return list(value)
        out: list[Any] = []
        spent = 0
        for item in value:
            spent += limits._size(item) or 1
            limits.too_big(spent, budget)
            out.append(item)
        return out

    def center(value: str, width: int = 80) -> str:
        limits.check_width(value, width, limit)
        return jinja_filters.do_center(value, width)

    def indent(s: str, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
        limits.check_indent(str(s), width, limit)
        return jinja_filters.do_indent(s, width, first, blank)

    def format_(value: str, *args: Any, **kwargs: Any) -> str:
        limits.check_percent_format(str(value), kwargs or args, limit)
        return jinja_filters.do_format(value, *args, **kwargs)

    def batch(value: Iterable[Any], linecount: int, fill_with: Any = None) -> Any:
        limits.check_count(linecount, limit)
        return jinja_filters.do_batch(take(value), linecount, fill_with)

    def slice_(value: Iterable[Any], slices: int, fill_with: Any = None) -> Any:
        limits.check_count(slices, limit)
        return jinja_filters.do_slice(take(value), slices, fill_with)

    def list_(value: Iterable[Any]) -> list[Any]:
        return take(value)

    plain: dict[str, Callable[..., Any]] = {
        "center": center,
        "indent": indent,
        "format": format_,
        "batch": batch,
        "slice": slice_,
        "list": list_,
    }
    join = jinja_filters.sync_do_join

    def join_(eval_ctx: Any, value: Iterable[Any], d: str = "", attribute: Any = None) -> str:
        items = take(value)
        limits.check_join(items if attribute is None else [], d, limit)
        text = join(eval_ctx, items, d, attribute)
        limits.too_big(len(text), limit)
        return text

    def replace(eval_ctx: Any, s: str, old: str, new: str, count: int | None = None) -> str:
        limits.check_replace(str(s), old, new, -1 if count is None else count, limit)
        return jinja_filters.do_replace(eval_ctx, s, old, new, count)

    for name, func, original in (
        ("join", join_, jinja_filters.do_join),
        ("replace", replace, jinja_filters.do_replace),
    ):
        setattr(func, "jinja_pass_arg", getattr(original, "jinja_pass_arg"))  # noqa: B009, B010
        plain[name] = func
    for name in ("sort", "unique", "reverse"):
        plain[name] = _after_take(jinja_filters.FILTERS[name], take)
    return plain


def _after_take(
    original: Callable[..., Any], take: Callable[[Iterable[Any]], list[Any]]
) -> Callable[..., Any]:
    """A filter that materialises its input within the budget before `original` sees it."""
    passes = getattr(original, "jinja_pass_arg", None)

    if passes is None:

        def plain(value: Any, *args: Any, **kwargs: Any) -> Any:
            return original(value if isinstance(value, str) else take(value), *args, **kwargs)

        return plain

    def with_context(ctx: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
        return original(ctx, value if isinstance(value, str) else take(value), *args, **kwargs)

    with_context.jinja_pass_arg = passes  # type: ignore[attr-defined]
    return with_context


def _loader(templates_dir: Path | None) -> BaseLoader:
    packaged = FileSystemLoader(str(PACKAGED_TEMPLATES))
    if templates_dir is None:
        return packaged
    return ChoiceLoader([FileSystemLoader(str(templates_dir)), packaged])


def _options(templates_dir: Path | None) -> dict[str, Any]:
    return {
        "loader": _loader(templates_dir),
        "undefined": StrictUndefined,
        "autoescape": False,  # Markdown notes: values are data, never markup
        "trim_blocks": True,
        "lstrip_blocks": True,
        "keep_trailing_newline": True,
        "auto_reload": False,
        "cache_size": -1,
    }


def make_environment(
    templates_dir: Path | None, render_limits: RenderLimits | None = None
) -> NoteEnvironment:
    """The note environment: templates from `templates_dir`, then the packaged ones."""
    bounds = render_limits or RenderLimits()
    env = NoteEnvironment(bounds, **_options(templates_dir))
    env.bytecode_cache = bytecode_cache(env)  # compiled templates kept across processes
    env.globals["field"] = field
    env.globals["ip_rows"] = ip_rows
    env.globals.pop("lipsum", None)  # lorem ipsum of any length: nothing a note needs

    class Bounded(_BoundedNamespace):
        limit = bounds.max_chars

    env.globals["namespace"] = Bounded
    env.ordinary = env.ordinary | {Bounded}  # as plain as jinja's Namespace (no call flags)
    env.plain_classes = env.plain_classes | {Bounded}
    env.filters["field"] = field  # `ev | field("a.b")`
    env.filters["join_nonempty"] = _join_nonempty
    env.filters.update(_SYNC_FILTERS)
    env.filters.update(_bounded_filters(bounds.max_chars))
    return env


def reference_environment(templates_dir: Path | None) -> ImmutableSandboxedEnvironment:
    """Jinja's own immutable sandbox with the same options and helpers, and no fast paths.

    What notes must render exactly like: tests and benches compare against it.
    """
    env = ImmutableSandboxedEnvironment(**_options(templates_dir))
    env.globals["field"] = field
    env.globals["ip_rows"] = ip_rows
    env.filters["field"] = field
    env.filters["join_nonempty"] = _join_nonempty
    return env


# Jinja's list filters are wrappers that pick a sync or async body on every call; this
# environment is never async, so templates get the sync bodies directly (same results).
_SYNC_FILTERS = {
    "join": jinja_filters.sync_do_join,
    "first": jinja_filters.sync_do_first,
    "list": jinja_filters.sync_do_list,
    "map": jinja_filters.sync_do_map,
    "select": jinja_filters.sync_do_select,
    "reject": jinja_filters.sync_do_reject,
    "selectattr": jinja_filters.sync_do_selectattr,
    "rejectattr": jinja_filters.sync_do_rejectattr,
    "unique": jinja_filters.sync_do_unique,
    "sum": jinja_filters.sync_do_sum,
    "slice": jinja_filters.sync_do_slice,
    "groupby": jinja_filters.sync_do_groupby,
}
