"""Actions: announcing alerts where people look, through a durable outbox."""

from eqlwatch.actions.config import ActionConfig
from eqlwatch.actions.dispatch import DeliveryStats, Notifier
from eqlwatch.actions.outbox import LocalOutbox

__all__ = ["ActionConfig", "DeliveryStats", "LocalOutbox", "Notifier"]
