"""Message bodies for actions, rendered in Jinja's sandbox from the alert documents.

The defaults ship with the package (`templates/`): `chat` is short and links to Kibana,
`email` carries each alert's full note, `webhook` is a JSON document. A job may name its
own template file (relative to the job's root). Alert fields come from events an attacker
may control, so rendering is sandboxed and the output is capped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from eqlwatch.actions.config import BUILTIN_TEMPLATES, ActionConfig
from eqlwatch.errors import ConfigError
from eqlwatch.grouping import incidents

MAX_BODY_CHARS = 256 * 1024


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    body: str


@cache
def _env() -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False
    )


def _source(name: str, root: Path) -> str:
    if name in BUILTIN_TEMPLATES:
        return resources.files("eqlwatch.actions").joinpath(f"templates/{name}.j2").read_text()
    path = Path(name) if Path(name).is_absolute() else root / name
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"action template {path}: cannot read ({exc.strerror})") from None


def render(
    action: ActionConfig,
    alerts: Sequence[Mapping[str, Any]],
    *,
    job_id: str,
    root: Path = Path("."),
) -> Message:
    """The message for these alerts (one for `per_alert`, the run's batch for `summary`)."""
    context = {
        "alert": alerts[0],
        "alerts": list(alerts),
        "count": len(alerts),
        "job": job_id,
        "incidents": incidents(alerts),  # grouped by eqlwatch.group.id
    }
    where = f"action {action.name!r}, template {action.template_name!r}"
    try:
        env = _env()
        body = env.from_string(_source(action.template_name, root)).render(context)
        title = env.from_string(action.title).render(context)
    except TemplateError as exc:
        raise ConfigError(f"{where}: {type(exc).__name__}: {exc}") from None
    if len(body) > MAX_BODY_CHARS:
        cut = len(body) - MAX_BODY_CHARS
        body = f"{body[:MAX_BODY_CHARS]}\n…[truncated {cut:,} chars]"
    if action.kind == "webhook":
        try:
            json.loads(body)
        except ValueError as exc:
            raise ConfigError(f"{where}: the webhook body is not JSON ({exc})") from None
    return Message(title=" ".join(title.split())[:250], body=body.strip())
