"""Building the elasticsearch-py client and turning its failures into eqlwatch errors.

Every call into Elasticsearch goes through `call()`, so one place decides what is worth a
retry later (connection refused, timeouts, 429, 5xx) and what is a real error (400, 401).
Every message built from a server's answer is redacted (`redact.py`) before anyone sees it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import elastic_transport
import structlog
from elasticsearch import ApiError, Elasticsearch

from eqlwatch.backends.elasticsearch.redact import redact_text
from eqlwatch.errors import BackendError, RetryableBackendError
from eqlwatch.settings import ElasticsearchSettings

T = TypeVar("T")

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})

_log = structlog.get_logger("eqlwatch.elasticsearch")


def build_client(settings: ElasticsearchSettings) -> Elasticsearch:
    """A client from settings; warns (without secrets) when TLS verification is off."""
    if not settings.verify_certs:
        _log.warning(
            "tls_verification_disabled",
            hosts=list(settings.hosts),
            hint="set ELASTICSEARCH_CA_CERTS instead of ELASTICSEARCH_VERIFY_CERTS=false",
        )
    return Elasticsearch(**settings.client_options())


def error_type(exc: ApiError) -> str:
    """The Elasticsearch `error.type` of a failed call, or '' when the body has none."""
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return redact_text(str(error.get("type", "")))
    return ""


def error_reason(exc: ApiError) -> str:
    """The human reason of a failed call, with its root causes, secrets redacted."""
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        reasons = [str(error.get("reason", ""))]
        causes = error.get("root_cause")
        if isinstance(causes, list):
            reasons += [str(c.get("reason", "")) for c in causes if isinstance(c, dict)]
        return redact_text(" | ".join(dict.fromkeys(r for r in reasons if r)))
    return redact_text(str(exc.message))


def translate(what: str, exc: Exception) -> BackendError:
    """The eqlwatch error for a client failure: retryable when waiting may fix it."""
    if isinstance(exc, ApiError):
        status = exc.meta.status
        message = f"{what}: HTTP {status} {error_type(exc)} {error_reason(exc)}".strip()
        if status in RETRYABLE_STATUS:
            return RetryableBackendError(message)
        return BackendError(message)
    if isinstance(exc, elastic_transport.TransportError):
        return RetryableBackendError(redact_text(f"{what}: {type(exc).__name__}: {exc.message}"))
    return BackendError(redact_text(f"{what}: {type(exc).__name__}: {exc}"))


CLIENT_ERRORS = (ApiError, elastic_transport.TransportError)


def call(what: str, fn: Callable[..., T], /, **kwargs: Any) -> T:
    """Run one client call; transient failures become `RetryableBackendError`."""
    try:
        return fn(**kwargs)
    except CLIENT_ERRORS as exc:
        raise translate(what, exc) from exc
