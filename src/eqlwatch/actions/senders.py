"""The two ways a message leaves: a generic webhook, or any of Apprise's ~100 services.

A sender either returns (the target took the message) or raises `SendError`; whether and
when to try again is the dispatcher's business. The idempotency key goes out as the
`Idempotency-Key` header wherever the target lets us set headers (webhooks, Apprise's
json:// / form:// / xml:// targets), so a receiver can drop the duplicates that
at-least-once delivery can produce.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Protocol
from urllib.parse import quote

from eqlwatch.actions.config import ActionConfig
from eqlwatch.actions.messages import Message

IDEMPOTENCY_HEADER = "Idempotency-Key"
_HEADER_SCHEMES = ("json", "jsons", "form", "forms", "xml", "xmls")


class SendError(Exception):
    """The target did not take the message. `retry_after`: what the target asked for (s)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Sender(Protocol):
    def __call__(
        self, action: ActionConfig, url: str, headers: Mapping[str, str], message: Message, key: str
    ) -> None: ...


def send_webhook(
    action: ActionConfig, url: str, headers: Mapping[str, str], message: Message, key: str
) -> None:
    """One HTTP request; TLS verified; any answer but 2xx is a failure."""
    import urllib3

    timeout = action.timeout.total_seconds()
    http = urllib3.PoolManager(
        retries=False, timeout=urllib3.Timeout(connect=timeout, read=timeout)
    )
    all_headers = {"Content-Type": "application/json", **headers, IDEMPOTENCY_HEADER: key}
    try:
        response = http.request(
            action.method, url, body=message.body.encode("utf-8"), headers=all_headers
        )
    except urllib3.exceptions.HTTPError as exc:
        raise SendError(_reason(exc)) from None
    finally:
        http.clear()
    if not 200 <= response.status < 300:
        raise SendError(f"HTTP {response.status}", retry_after=_retry_after(response.headers))


def send_apprise(
    action: ActionConfig, url: str, headers: Mapping[str, str], message: Message, key: str
) -> None:
    """Through Apprise, which knows each service's API (Slack, Teams, email, PagerDuty...)."""
    import apprise

    # Apprise logs target URLs on failure; a URL can hold a token. Our own log says enough.
    logging.getLogger("apprise").setLevel(logging.CRITICAL)
    scheme = url.split(":", 1)[0].lower()
    if scheme in _HEADER_SCHEMES:
        joiner = "&" if "?" in url else "?"
        url = f"{url}{joiner}{quote('+' + IDEMPOTENCY_HEADER)}={quote(key)}"
    client = apprise.Apprise()
    if not client.add(url):
        raise SendError("Apprise does not understand this URL (check its scheme and fields)")
    if not client.notify(body=message.body, title=message.title):
        raise SendError("the service did not accept the message")


def _reason(exc: Exception) -> str:
    """A failure's kind without the URL (which can carry a token)."""
    inner = getattr(exc, "reason", None)
    return type(inner or exc).__name__


def _retry_after(headers: Mapping[str, str]) -> float | None:
    raw = headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None
