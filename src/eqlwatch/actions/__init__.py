"""Actions: announcing alerts where people look, through a durable outbox.

The names below load on first use: a rule's `[[eqlwatch.actions]]` makes every rule load
import `eqlwatch.actions.config`, which must not pull in the dispatcher (Jinja, structlog).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eqlwatch.actions.config import ActionConfig
    from eqlwatch.actions.dispatch import DeliveryStats, Notifier
    from eqlwatch.actions.outbox import LocalOutbox

__all__ = ["ActionConfig", "DeliveryStats", "LocalOutbox", "Notifier"]
_WHERE = {
    "ActionConfig": "eqlwatch.actions.config",
    "DeliveryStats": "eqlwatch.actions.dispatch",
    "Notifier": "eqlwatch.actions.dispatch",
    "LocalOutbox": "eqlwatch.actions.outbox",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
