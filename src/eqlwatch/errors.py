"""Errors that know where they came from.

Every error eqlwatch reports about user input carries a location (file, line, column or
field), so a message can point at the exact spot. Loaders collect these instead of raising
the first one, so one broken rule or line never stops the others.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Location:
    """Where in the user's input a problem is: any part may be unknown."""

    file: str | None = None
    line: int | None = None
    column: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        parts: list[str] = []
        if self.file is not None:
            parts.append(self.file)
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        text = ":".join(parts)
        if self.field is not None:
            text = f"{text} [{self.field}]" if text else f"[{self.field}]"
        return text


class EqlwatchError(Exception):
    """Root of every error eqlwatch raises on purpose."""

    def __init__(self, message: str, *, location: Location | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location

    def __str__(self) -> str:
        if self.location is None or not str(self.location):
            return self.message
        return f"{self.location}: {self.message}"


class QueryError(EqlwatchError):
    """An EQL query that cannot be parsed, or uses syntax Elasticsearch rejects."""


class DataError(EqlwatchError):
    """An event, mapping or input file that cannot be read."""


class ConfigError(EqlwatchError):
    """A rule, job, template or settings file that is invalid."""


class BackendError(EqlwatchError):
    """A backend could not serve a request; the window was not evaluated."""


class UnsupportedRule(BackendError):
    """The backend cannot run this rule (its cluster is older than the rule's
    `min_stack_version`): the rule is skipped with this reason, not failed."""


class RetryableBackendError(BackendError):
    """A transient backend failure (connection, 429, 5xx, partial results): retry later."""
