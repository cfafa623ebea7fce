"""The one Jinja environment notes are rendered in: sandboxed, strict, compiled once.

`ImmutableSandboxedEnvironment` keeps templates away from Python internals and from
mutating what they are given; `StrictUndefined` turns a misspelt name into an error
instead of an empty string. Autoescape is off because notes are Markdown, not HTML: values
are inserted as text and nothing in them is interpreted by Jinja.

Notes render for every alert, so `NoteEnvironment` takes shortcuts where the sandbox's
checks provably pass (plain dicts, event views, helpers, macros; see its methods and
`eqlwatch.notes.codegen`), and `reference_environment` is jinja's sandbox unchanged, for
tests and benches to compare against: the text must be the same.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from pathlib import Path
from types import BuiltinMethodType, FunctionType, MethodType
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, pass_eval_context
from jinja2 import filters as jinja_filters
from jinja2.environment import TemplateModule
from jinja2.runtime import Context, LoopContext, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace
from markupsafe import Markup

from eqlwatch.enrich import Enrichment
from eqlwatch.notes.codegen import NoteCodeGenerator
from eqlwatch.notes.view import EventView, field
from eqlwatch.rules.fields import MISSING


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


class NoteEnvironment(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with direct paths where its checks cannot fail.

    An `EventView` exposes nothing but the event's data (and its `get` method), so looking
    a field up needs none of the sandbox's attribute checks; `d.key` on a plain dict returns
    the item exactly as the sandbox would (dict methods keep the normal path); public
    attributes of imported templates, namespaces, loops and enrichments, and calls of plain
    functions, builtin methods and simple macros skip checks that would pass anyway;
    everything else goes through the sandbox unchanged. Templates compile with
    `NoteCodeGenerator` (inline dict reads, one `yield` per output run).
    """

    code_generator_class = NoteCodeGenerator

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
        body. Everything else takes the normal path.
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
        else:
            plain = kind is BuiltinMethodType or (kind is type and __obj in _PLAIN_CLASSES)
        if not plain:
            return super().call(__context, __obj, *args, **kwargs)
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
        elif type(obj) in _ORDINARY and not attribute.startswith("_"):
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


def _options(templates_dir: Path | None) -> dict[str, Any]:
    return {
        "loader": FileSystemLoader(str(templates_dir)) if templates_dir is not None else None,
        "undefined": StrictUndefined,
        "autoescape": False,  # Markdown notes: values are data, never markup
        "trim_blocks": True,
        "lstrip_blocks": True,
        "keep_trailing_newline": True,
        "auto_reload": False,
        "cache_size": -1,
    }


def _add_helpers(env: ImmutableSandboxedEnvironment) -> None:
    env.globals["field"] = field
    env.globals["ip_rows"] = ip_rows
    env.filters["field"] = field  # `ev | field("a.b")`: a filter is cheaper than a call
    env.filters["join_nonempty"] = _join_nonempty


def make_environment(templates_dir: Path | None) -> NoteEnvironment:
    """A sandboxed environment loading from `templates_dir` (None: string templates only)."""
    env = NoteEnvironment(**_options(templates_dir))
    _add_helpers(env)
    env.filters.update(_SYNC_FILTERS)
    return env


def reference_environment(templates_dir: Path | None) -> ImmutableSandboxedEnvironment:
    """Jinja's own immutable sandbox with the same options and helpers, and no fast paths.

    What notes must render exactly like: tests and benches compare against it.
    """
    env = ImmutableSandboxedEnvironment(**_options(templates_dir))
    _add_helpers(env)
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
