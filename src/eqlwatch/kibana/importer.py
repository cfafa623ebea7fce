"""Importing saved objects through Kibana's saved objects API (`POST /api/saved_objects/_import`).

The API takes a multipart form with the NDJSON as field `file` and needs a `kbn-xsrf`
header. Credentials and TLS settings are the Elasticsearch ones (the same user normally
has the Kibana privileges); the secret is only placed in the request header.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import structlog

from eqlwatch.errors import BackendError, ConfigError, Location, RetryableBackendError
from eqlwatch.settings import ElasticsearchSettings

Opener = Callable[..., Any]
_log = structlog.get_logger("eqlwatch.kibana")


@dataclass(frozen=True, slots=True)
class ImportResult:
    success_count: int
    errors: tuple[str, ...]


def auth_header(settings: ElasticsearchSettings) -> dict[str, str]:
    """The Authorization header for Kibana, from the Elasticsearch credentials."""
    if settings.api_key is not None:
        return {"Authorization": f"ApiKey {settings.api_key.get_secret_value()}"}
    if settings.username is not None and settings.password is not None:
        pair = f"{settings.username}:{settings.password.get_secret_value()}".encode()
        return {"Authorization": f"Basic {base64.b64encode(pair).decode()}"}
    if settings.bearer_token is not None:
        return {"Authorization": f"Bearer {settings.bearer_token.get_secret_value()}"}
    return {}


def tls_context(settings: ElasticsearchSettings) -> ssl.SSLContext:
    """Verifying by default (system CAs, or ELASTICSEARCH_CA_CERTS); unverified only on request."""
    context = ssl.create_default_context(
        cafile=str(settings.ca_certs) if settings.ca_certs else None
    )
    if not settings.verify_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def multipart(field: str, filename: str, content: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body with one file field; returns (body, content type)."""
    boundary = f"eqlwatch-{uuid.uuid4().hex}"
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        "Content-Type: application/ndjson\r\n\r\n"
    ).encode()
    return (
        head + content + f"\r\n--{boundary}--\r\n".encode(),
        f"multipart/form-data; boundary={boundary}",
    )


def import_url(settings: ElasticsearchSettings, overwrite: bool) -> str:
    if not settings.kibana_url:
        raise ConfigError("KIBANA_URL is not set", location=Location(field="KIBANA_URL"))
    if not settings.kibana_url.startswith(("http://", "https://")):
        raise ConfigError(
            "KIBANA_URL must start with http:// or https://", location=Location(field="KIBANA_URL")
        )
    base = settings.kibana_url.rstrip("/")
    space = f"/s/{quote(settings.kibana_space, safe='')}" if settings.kibana_space else ""
    return f"{base}{space}/api/saved_objects/_import?overwrite={str(overwrite).lower()}"


def import_saved_objects(
    settings: ElasticsearchSettings,
    ndjson: bytes,
    *,
    overwrite: bool = True,
    timeout_s: float = 60.0,
    opener: Opener = urllib.request.urlopen,
) -> ImportResult:
    """Import NDJSON saved objects; raises when Kibana rejects the request or any object."""
    url = import_url(settings, overwrite)
    body, content_type = multipart("file", "eqlwatch.ndjson", ndjson)
    headers = {"kbn-xsrf": "eqlwatch", "Content-Type": content_type, **auth_header(settings)}
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    context = tls_context(settings) if url.startswith("https:") else None
    try:
        with opener(request, timeout=timeout_s, context=context) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:500].decode(errors="replace")
        error = RetryableBackendError if exc.code >= 500 else BackendError
        raise error(f"Kibana import: HTTP {exc.code} {detail}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise RetryableBackendError(
            f"Kibana import: cannot reach {settings.kibana_url}: {exc}"
        ) from exc
    errors = tuple(
        f"{e.get('type')}/{e.get('id')}: {e.get('error', {}).get('type')}"
        for e in answer.get("errors") or []
    )
    if errors or not answer.get("success", False):
        raise BackendError(f"Kibana import failed for {len(errors)} object(s): {'; '.join(errors)}")
    _log.info("kibana_import", objects=answer.get("successCount", 0))
    return ImportResult(success_count=int(answer.get("successCount", 0)), errors=errors)
