"""Secrets out of anything a server sends back, before it reaches a log line or a report.

A proxy or a misconfigured cluster may echo the request (its `Authorization` header, an API
key, a password in a body) inside an error. The logger hides credential-looking *keys*;
this hides credential *values* inside free text and nested bodies too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "***"
_KEY = (
    r"(?:authorization|proxy-authorization|x-api-key|api[_-]?key|password|passwd|secret"
    r"|(?:access[_-]|refresh[_-]|bearer[_-]|id[_-])?token|credentials?)"
)
_SECRET_KEY = re.compile(_KEY, re.IGNORECASE)
_PATTERNS = (
    # "Authorization: ApiKey abc", 'authorization': 'Basic abc', password=abc, "token":"abc"
    re.compile(
        rf"""(?P<key>["']?{_KEY}["']?\s*[:=]\s*["']?)"""
        r"""(?P<scheme>(?:basic|bearer|apikey|negotiate|digest)\s+)?"""
        r"""(?P<value>[^\s"',;}}\]]+)""",
        re.IGNORECASE,
    ),
    # a bare scheme + credential anywhere else: "ApiKey dGVzdDp0ZXN0"
    re.compile(
        r"(?P<key>)(?P<scheme>\b(?:basic|bearer|apikey)\s+)(?P<value>[A-Za-z0-9+/=._~-]{8,})",
        re.IGNORECASE,
    ),
)


def _sub(match: re.Match[str]) -> str:
    return f"{match.group('key')}{match.group('scheme') or ''}{REDACTED}"


def redact_text(text: str) -> str:
    """`text` with every credential value after a credential-looking name replaced."""
    for pattern in _PATTERNS:
        text = pattern.sub(_sub, text)
    return text


def redact(value: Any) -> Any:
    """A response body (or part of one) with secret-named keys and secret-looking text hidden."""
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if isinstance(k, str) and _SECRET_KEY.search(k) else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value
