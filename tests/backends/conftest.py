"""Backends under contract: every scenario in test_contract.py runs on each of them.

A backend joins by adding a factory to BACKENDS (the Elasticsearch one adds itself when
its stand-in server or a real cluster is available).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from eqlwatch.backends.base import AlertSink, EventSource, StateStore
from eqlwatch.backends.local_sink import LocalFileSink
from eqlwatch.backends.local_source import LocalEventSource
from eqlwatch.backends.local_state import LocalStateStore
from eqlwatch.backends.memory import MemorySink, MemoryStateStore
from eqlwatch.engine import SourceEvent
from tests.backends.es_cluster import contract_backends

# Given source documents (each with an `_id`), an event source holding them and the index
# pattern a search must name to find them.
SourceFactory = Callable[[list[dict[str, Any]]], tuple[EventSource, str]]


@dataclass
class BackendPair:
    """A sink and a state store; `reopen` gives fresh objects over the same storage (a restart);
    `source` loads events where this backend searches them."""

    sink: AlertSink
    state: StateStore
    reopen: Callable[[], tuple[AlertSink, StateStore]]
    source: SourceFactory


def _embedded(events: list[dict[str, Any]]) -> tuple[EventSource, str]:
    loaded = [
        SourceEvent("logs-test", str(e["_id"]), {k: v for k, v in e.items() if k != "_id"})
        for e in events
    ]
    return LocalEventSource.from_events(loaded), "logs-*"


def _memory(_tmp: Path) -> BackendPair:
    sink, state = MemorySink(), MemoryStateStore()
    return BackendPair(sink, state, lambda: (sink, state), _embedded)


def _local(tmp: Path) -> BackendPair:
    def make() -> tuple[AlertSink, StateStore]:
        return LocalFileSink(tmp / "alerts.ndjson"), LocalStateStore(tmp / "state.json")

    sink, state = make()
    return BackendPair(sink, state, make, _embedded)


BACKENDS: dict[str, Callable[[Path], BackendPair]] = {"memory": _memory, "local": _local}
BACKENDS.update(contract_backends())  # Elasticsearch: stand-in always, real cluster if set


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> BackendPair:
    """Factories needing teardown register it with `request.addfinalizer`."""
    return BACKENDS[request.param](tmp_path)
