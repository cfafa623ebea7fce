"""Secrets for action targets: `${NAME}` from the environment or a `NAME_FILE` file.

A webhook token or a Slack URL is a credential. The job file only names it; the value is
read when a message is sent and never enters a log line, a report or `--help`: logs see
`display_target`, which keeps the scheme and host and masks everything else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from eqlwatch.errors import ConfigError

_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def referenced(text: str) -> list[str]:
    """The variable names `text` refers to, in order."""
    return _REF.findall(text)


def expand(text: str, env: Mapping[str, str], *, what: str) -> str:
    """`text` with each `${NAME}` replaced by `env[NAME]`, or by the content of `env[NAME_FILE]`."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in env:
            return env[name]
        file = env.get(f"{name}_FILE")
        if file:
            try:
                return Path(file).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"{what}: cannot read {name}_FILE ({exc.strerror})") from None
        raise ConfigError(f"{what}: environment variable {name} (or {name}_FILE) is not set")

    return _REF.sub(value, text)


def display_target(url: str) -> str:
    """What a log may show of a target URL: scheme and host, never a path, user or token."""
    if _REF.fullmatch(url.strip()):
        return url.strip()  # only a variable name: no secret in it
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
    except ValueError:
        return "<unparsable url>"
    scheme = parts.scheme or "?"
    return f"{scheme}://{host}/…"
