"""The one Jinja environment notes are rendered in: sandboxed, strict, compiled once.

`ImmutableSandboxedEnvironment` keeps templates away from Python internals and from
mutating what they are given; `StrictUndefined` turns a misspelt name into an error
instead of an empty string. Autoescape is off because notes are Markdown, not HTML: values
are inserted as text and nothing in them is interpreted by Jinja.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from eqlwatch.enrich import Enrichment
from eqlwatch.notes.view import field


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


def make_environment(templates_dir: Path | None) -> ImmutableSandboxedEnvironment:
    """A sandboxed environment loading from `templates_dir` (None: string templates only)."""
    env = ImmutableSandboxedEnvironment(
        loader=FileSystemLoader(str(templates_dir)) if templates_dir is not None else None,
        undefined=StrictUndefined,
        autoescape=False,  # Markdown notes: values are data, never markup
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
        cache_size=-1,
    )
    env.globals["field"] = field
    env.globals["ip_rows"] = ip_rows
    env.filters["join_nonempty"] = _join_nonempty
    return env
