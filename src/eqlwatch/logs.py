"""structlog set-up: JSON lines unless stderr is a terminal, readable console on one.

Secrets never reach a log line: `redact_secrets` replaces the value of any key that looks
like a credential, however deep it is nested, before rendering.

structlog (which imports rich) costs more than the whole of a small `eqlwatch query`, so
`configure_when_imported` configures it the moment something imports it, and a command
that never logs never pays for it. Unconfigured, structlog would print console text to
stdout, into a command's output: that is why configuration is tied to the import itself.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import sys
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from importlib.abc import Loader, MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any, TextIO, cast

_SECRET_KEY = re.compile(
    r"(pass(word)?|secret|token|api[_-]?key|authorization|credential|cloud[_-]?auth|bearer)",
    re.IGNORECASE,
)
REDACTED = "***"


def _scrub(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if isinstance(k, str) and _SECRET_KEY.search(k) else _scrub(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_scrub(v) for v in value)
    return value


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: hide credential-looking keys at any depth."""
    for key in list(event_dict):
        if _SECRET_KEY.search(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _scrub(event_dict[key])
    return event_dict


class _CurrentStderr:
    """Whatever `sys.stderr` is at write time (test runners swap it out and close theirs)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure(*, json: bool | None = None, level: str = "INFO", stream: Any = None) -> None:
    """Configure structlog once per process; `json=None` picks JSON unless stderr is a TTY."""
    _remove_hooks()  # an explicit configuration replaces a pending one
    import structlog

    out = stream if stream is not None else _CurrentStderr()
    use_json = (not out.isatty()) if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=cast(TextIO, out)),
        cache_logger_on_first_use=False,
    )


class _ThenLoader(Loader):
    """Runs the real loader, then a callback: a post-import hook for one module."""

    def __init__(self, loader: Loader, then: Callable[[], None]) -> None:
        self._loader, self._then = loader, then

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        self._then()


class _OnImport(MetaPathFinder):
    """Finds `name` once through the other finders and wraps its loader with `then`."""

    def __init__(self, name: str, then: Callable[[], None]) -> None:
        self.name, self.then = name, then

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname != self.name:
            return None
        _remove_hooks()
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenLoader(spec.loader, self.then)
        return spec


def _remove_hooks() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _OnImport)]


def configure_when_imported(*, json: bool | None = None, level: str = "INFO") -> None:
    """`configure` now if structlog is loaded, else as soon as anything imports it."""
    _remove_hooks()
    if "structlog" in sys.modules:
        configure(json=json, level=level)
        return
    sys.meta_path.insert(0, _OnImport("structlog", lambda: configure(json=json, level=level)))
