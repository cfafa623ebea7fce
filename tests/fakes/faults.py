"""Fault injection for the stand-in server: what to do to the next matching requests.

A test arms faults (`server.faults.add(...)`); each request consults them in order, and a
fault fires at most `times` times. Kinds: an HTTP error status, a dropped connection, a
delay (longer than the client's timeout = a timeout), partial EQL results, shard failures,
bulk items rejected (`item_status`) or sent to the failure store with a 2xx (`failure_store`),
asynchronous EQL searches that stay running for a number of polls, and `respond`: an
arbitrary answer (`200 {}`, a malformed body, raw bytes, an error that echoes the request's
headers, as a misconfigured proxy would).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any, Literal

FaultKind = Literal[
    "status",
    "drop",
    "delay",
    "partial",
    "shard_failure",
    "async",
    "item_status",
    "failure_store",
    "respond",
]


@dataclass
class Fault:
    kind: FaultKind
    path: str = ".*"
    method: str = ".*"
    times: int = 1
    status: int = 503
    delay_s: float = 0.0
    polls: int = 1
    body: Any = None  # respond: the JSON body, or bytes sent as they are
    echo_headers: bool = False  # respond: an error body quoting the request's headers

    def matches(self, method: str, path: str) -> bool:
        return bool(re.fullmatch(self.method, method) and re.search(self.path, path))


class Faults:
    """A thread-safe list of armed faults and a count of those that fired."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[Fault] = []
        self.fired: dict[str, int] = {}

    def add(self, kind: FaultKind, **kwargs: object) -> Fault:
        fault = Fault(kind, **kwargs)  # type: ignore[arg-type]
        with self._lock:
            self._armed.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def take(self, method: str, path: str, kinds: tuple[FaultKind, ...]) -> Fault | None:
        """The first armed fault of one of `kinds` matching the request, consumed once."""
        with self._lock:
            for fault in self._armed:
                if fault.kind in kinds and fault.times > 0 and fault.matches(method, path):
                    fault.times -= 1
                    self.fired[fault.kind] = self.fired.get(fault.kind, 0) + 1
                    return fault
        return None
