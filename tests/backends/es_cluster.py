"""Clusters the Elasticsearch backend is tested against: the local stand-in, always, and a
real cluster when `ELASTICSEARCH_URL` is set (otherwise that parameter does not exist).

Each test gets its own data streams and state index (a random namespace), so tests never
see each other's documents, on the stand-in and on a shared real cluster alike.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch

from eqlwatch.backends.elasticsearch import (
    BulkOptions,
    ElasticsearchAlertSink,
    ElasticsearchEventSource,
    ElasticsearchStateStore,
    build_client,
    setup_cluster,
)
from eqlwatch.settings import settings_from_env
from tests.fakes.es_server import FakeElasticsearch

EVENT_MAPPINGS: dict[str, Any] = {
    "dynamic_templates": [
        {"strings": {"match_mapping_type": "string", "mapping": {"type": "keyword"}}}
    ],
    "properties": {"@timestamp": {"type": "date"}},
}
FAST_BULK = BulkOptions(max_retries=4, initial_backoff_s=0.01, max_backoff_s=0.05)


@dataclass
class Cluster:
    """One cluster with this test's names; `fake` is None on a real cluster."""

    kind: str
    client: Elasticsearch
    fake: FakeElasticsearch | None
    namespace: str

    @property
    def alerts(self) -> str:
        return f"logs-eqlwatch.alerts-{self.namespace}"

    @property
    def runs(self) -> str:
        return f"logs-eqlwatch.runs-{self.namespace}"

    @property
    def state(self) -> str:
        return f"eqlwatch-state-{self.namespace}"

    @property
    def events(self) -> str:
        return f"eqlwatch-test-events-{self.namespace}"

    def setup(self) -> None:
        setup_cluster(
            self.client,
            alerts_data_stream=self.alerts,
            runs_data_stream=self.runs,
            state_index=self.state,
        )

    def sink(self, client: Elasticsearch | None = None) -> ElasticsearchAlertSink:
        return ElasticsearchAlertSink(client or self.client, self.alerts, FAST_BULK)

    def state_store(self, client: Elasticsearch | None = None) -> ElasticsearchStateStore:
        return ElasticsearchStateStore(client or self.client, self.state)

    def load(self, events: list[dict[str, Any]]) -> None:
        """Source events into a plain index (ids given as `_id`), refreshed for search."""
        if not self.client.indices.exists(index=self.events):
            self.client.indices.create(index=self.events, mappings=EVENT_MAPPINGS)
        for event in events:
            body = {k: v for k, v in event.items() if k != "_id"}
            self.client.index(index=self.events, id=event.get("_id"), document=body)
        self.client.indices.refresh(index=self.events)

    def alert_ids(self) -> list[str]:
        """Every alert `_id` across all backing indices (duplicates kept, to count them)."""
        self.client.indices.refresh(index=self.alerts)
        response = self.client.search(index=self.alerts, size=10000, source=False)
        return [h["_id"] for h in response.body["hits"]["hits"]]


def fast_client(url: str, **options: Any) -> Elasticsearch:
    settings = {"request_timeout": 2.0, "max_retries": 2, "retry_on_timeout": True}
    return Elasticsearch(url, **{**settings, **options})


def real_client() -> Elasticsearch:
    return build_client(settings_from_env(os.environ))


def cluster_kinds() -> list[str]:
    """`fake` always; `real` only when a cluster is configured."""
    return ["fake", "real"] if os.environ.get("ELASTICSEARCH_URL") else ["fake"]


def open_cluster(kind: str) -> Iterator[Cluster]:
    """A set-up cluster for one test; the stand-in is stopped afterwards."""
    namespace = "t" + uuid.uuid4().hex[:12]
    if kind == "fake":
        fake = FakeElasticsearch().start()
        client = fast_client(fake.url)
        cluster = Cluster("fake", client, fake, namespace)
    else:
        cluster = Cluster("real", real_client(), None, namespace)
    try:
        cluster.setup()
        yield cluster
    finally:
        cluster.client.close()
        if cluster.fake is not None:
            cluster.fake.stop()


_SHARED: dict[str, tuple[Elasticsearch, FakeElasticsearch | None]] = {}


# The versions the contract suite's stand-ins play: the supported range's edges and the
# versions where request shapes change (8.18: partial-result flags; 8.19: failure store).
CONTRACT_VERSIONS = ("8.9.2", "8.17.4", "8.18.0", "9.2.1")


def _shared(kind: str) -> tuple[Elasticsearch, FakeElasticsearch | None]:
    """One process-wide client per kind for the contract suite (its factories get no teardown).

    `fake-8.17.4` is a stand-in playing Elasticsearch 8.17.4."""
    if kind not in _SHARED:
        if kind.startswith("fake"):
            fake = FakeElasticsearch(version=kind.partition("-")[2] or "8.19.0").start()
            _SHARED[kind] = (fast_client(fake.url), fake)
        else:
            _SHARED[kind] = (real_client(), None)
    return _SHARED[kind]


def contract_factory(kind: str) -> Callable[[Path], Any]:
    """A BACKENDS factory for tests/backends/conftest.py: fresh names on a shared cluster."""

    def make(_tmp: Path) -> Any:
        from tests.backends.conftest import BackendPair

        client, fake = _shared(kind)
        cluster = Cluster(kind, client, fake, "t" + uuid.uuid4().hex[:12])
        cluster.setup()

        def reopen() -> tuple[ElasticsearchAlertSink, ElasticsearchStateStore]:
            return cluster.sink(), cluster.state_store()

        def source(events: list[dict[str, Any]]) -> tuple[ElasticsearchEventSource, str]:
            cluster.load(events)
            return ElasticsearchEventSource(client), cluster.events

        return BackendPair(cluster.sink(), cluster.state_store(), reopen, source)

    return make


def contract_backends() -> dict[str, Callable[[Path], Any]]:
    kinds = [f"fake-{v}" for v in CONTRACT_VERSIONS] + [k for k in cluster_kinds() if k != "fake"]
    return {f"elasticsearch-{kind}": contract_factory(kind) for kind in kinds}
