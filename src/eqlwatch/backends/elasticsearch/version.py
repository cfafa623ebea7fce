"""Which Elasticsearch versions eqlwatch supports, and what each one accepts.

Read once per run from `GET /` (spec: _global/info/RootNodeInfoResponse). Requests are
shaped by version because Elasticsearch answers 400 to a body field it does not know:
`allow_partial_search_results`/`allow_partial_sequence_results` exist from 8.18, a
template's `data_stream_options` (failure store) from 8.19. Serverless reports a fixed
version number, so it counts as the newest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from elasticsearch import Elasticsearch

from eqlwatch.backends.elasticsearch.client import call
from eqlwatch.errors import BackendError

MIN_SUPPORTED = (8, 9)
MAX_MAJOR = 9
SUPPORTED_RANGE = "Elasticsearch 8.9 to 9.x"
PARTIAL_FLAGS_FROM = (8, 18)
DATA_STREAM_OPTIONS_FROM = (8, 19)

_NUMBER = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")


class UnsupportedVersion(BackendError):
    """The cluster's version is outside the supported range: nothing will work right."""


@dataclass(frozen=True, order=True, slots=True)
class StackVersion:
    """A stack version (major, minor, patch); `serverless` has every feature."""

    major: int
    minor: int
    patch: int = 0
    serverless: bool = False

    @classmethod
    def parse(cls, text: str, *, serverless: bool = False) -> StackVersion:
        """`8.17.3`, `9.2.0-SNAPSHOT`, `8.9` → a version; anything else is an error."""
        match = _NUMBER.match(text.strip())
        if match is None:
            raise ValueError(f"not a version: {text!r}")
        major, minor, patch = match.groups()
        return cls(int(major), int(minor), int(patch or 0), serverless)

    def at_least(self, wanted: tuple[int, int] | StackVersion) -> bool:
        if self.serverless:
            return True
        if isinstance(wanted, StackVersion):
            return (self.major, self.minor, self.patch) >= (
                wanted.major,
                wanted.minor,
                wanted.patch,
            )
        return (self.major, self.minor) >= wanted

    @property
    def supported(self) -> bool:
        return self.serverless or (self.at_least(MIN_SUPPORTED) and self.major <= MAX_MAJOR)

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        return f"{text} (serverless)" if self.serverless else text


def parse_info(body: Any) -> StackVersion:
    """The version in a `GET /` answer; a body without one is an error naming what came."""
    version = body.get("version") if isinstance(body, dict) else None
    number = version.get("number") if isinstance(version, dict) else None
    if not isinstance(version, dict) or not isinstance(number, str):
        raise BackendError(f"GET /: no version.number in the answer: {str(body)[:200]}")
    try:
        return StackVersion.parse(number, serverless=version.get("build_flavor") == "serverless")
    except ValueError as exc:
        raise BackendError(f"GET /: {exc}") from None


def require_supported(version: StackVersion) -> StackVersion:
    """`version`, or `UnsupportedVersion` naming the supported range."""
    if not version.supported:
        raise UnsupportedVersion(
            f"Elasticsearch {version} is not supported: eqlwatch supports {SUPPORTED_RANGE} "
            "(upgrade the cluster, or use an eqlwatch release made for it)"
        )
    return version


def cluster_version(client: Elasticsearch) -> StackVersion:
    """The cluster's version from `GET /` (not yet checked against the supported range)."""
    return parse_info(call("GET /", client.info).body)
