"""The one Jinja environment notes are rendered in: sandboxed, strict, compiled once.

`ImmutableSandboxedEnvironment` keeps templates away from Python internals and from
mutating what they are given; `StrictUndefined` turns a misspelt name into an error
instead of an empty string. Autoescape is off because notes are Markdown, not HTML: values
are inserted as text and nothing in them is interpreted by Jinja.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2 import filters as jinja_filters
from jinja2.sandbox import ImmutableSandboxedEnvironment

from eqlwatch.enrich import Enrichment
from eqlwatch.notes.view import EventView, field
from eqlwatch.rules.fields import MISSING


def _join_nonempty(values: object, sep: str = ", ") -> str:
    if not isinstance(values, list | tuple):
        return "" if values is None else str(values)
    return sep.join(str(v) for v in values if v not in (None, ""))


def ip_rows(source: object) -> list[dict[str, Any]]:
    """Template helper: IP rows as plain dicts, from an Enrichment or an existing list."""
    if isinstance(source, Enrichment):
        rows: list[dict[str, Any]] = source.to_document()["ips"]
        return rows
    return list(source) if isinstance(source, list | tuple) else []


_DICT_ATTRIBUTES = frozenset(dir(dict))
_DICT_READERS = frozenset(("get", "items", "keys", "values"))


class NoteEnvironment(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with a direct path for event fields.

    An `EventView` exposes nothing but the event's data (and its `get` method), so looking
    a field up needs none of the sandbox's attribute checks; `d.key` on a plain dict returns
    the item exactly as the sandbox would (dict methods keep the normal path); everything
    else goes through the sandbox unchanged.
    """

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        """A template's globals as one plain dict instead of jinja's ChainMap.

        Every render copies the globals into a fresh context; copying a ChainMap goes
        through its pure-Python mapping methods (~5 µs a render), a dict copies in C. The
        environment's globals are complete before any template loads (`make_environment`)
        and never change afterwards, so a snapshot sees exactly what the ChainMap would.
        """
        return {**self.globals, **(d or {})}

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
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if type(obj) is dict:  # most lookups: the context's plain data
            try:
                return obj[argument]
            except (TypeError, LookupError):
                return super().getitem(obj, argument)
        if type(obj) is EventView and isinstance(argument, str):
            value = obj.get(argument, MISSING)
            return self.undefined(obj=obj, name=argument) if value is MISSING else value
        try:
            return obj[argument]  # the sandbox's own first step, one call earlier
        except (TypeError, LookupError):
            return super().getitem(obj, argument)


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
