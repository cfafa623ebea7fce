"""A project pointed at the stand-in, as the CLI tests need it: a cluster set up the way
`eqlwatch setup` leaves it, a job on the Elasticsearch backend, and the environment a
user's shell would carry (connection variables set, stray ones removed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from eqlwatch.backends.elasticsearch import setup_cluster
from eqlwatch.settings import RUNS_DATA_STREAM
from tests.backends.es_cluster import fast_client
from tests.fakes.es_server import FakeElasticsearch


def started_stand_in(alerts: str, state: str, version: str | None = None) -> FakeElasticsearch:
    """A running stand-in (of `version`, else its default) after `setup` made its resources."""
    server = FakeElasticsearch() if version is None else FakeElasticsearch(version=version)
    server.start()
    client = fast_client(server.url)
    setup_cluster(client, alerts_data_stream=alerts, runs_data_stream=RUNS_DATA_STREAM,
                  state_index=state)  # fmt: skip
    client.close()
    return server


def es_job(alerts: str, state: str, *, rules: str = "queries/*.toml", extra: str = "") -> str:
    """Job `es`: every 5 min over `logs-test-*`, a 1 h look-back, all on Elasticsearch."""
    return f"""
[job]
id = "es"
schedule = {{ interval = "5m" }}
indices = ["logs-test-*"]
rules = {{ paths = ["{rules}"] }}
look_back = "1h"
{extra}
source = {{ backend = "elasticsearch" }}
alerts = {{ backend = "elasticsearch", data_stream = "{alerts}" }}
state = {{ backend = "elasticsearch", index = "{state}" }}
"""


def es_project(
    root: Path,
    url: str,
    mp: pytest.MonkeyPatch,
    job: str,
    rules: dict[str, str],
    *,
    password: str = "pw",
) -> Path:
    """`root` with queries/ and jobs/es.toml, the CLI's environment aimed at `url`, cwd there."""
    (root / "queries").mkdir()
    for name, text in rules.items():
        (root / "queries" / name).write_text(text)
    (root / "jobs").mkdir()
    (root / "jobs" / "es.toml").write_text(job)
    for name in ("ELASTICSEARCH_API_KEY", "ELASTICSEARCH_CLOUD_ID", "KIBANA_URL"):
        mp.delenv(name, raising=False)
    mp.setenv("ELASTICSEARCH_URL", url)
    mp.setenv("ELASTICSEARCH_USERNAME", "elastic")
    mp.setenv("ELASTICSEARCH_PASSWORD", password)
    mp.chdir(root)
    return root
