"""The Elasticsearch backend: the cluster runs the EQL, stores alerts, run reports and state.

This package is the only place that imports elasticsearch-py.
"""

from eqlwatch.backends.elasticsearch.client import build_client
from eqlwatch.backends.elasticsearch.resources import setup_cluster
from eqlwatch.backends.elasticsearch.search import ElasticsearchEventSource, EqlOptions
from eqlwatch.backends.elasticsearch.sink import (
    BulkOptions,
    ElasticsearchAlertSink,
    ElasticsearchRunReports,
)
from eqlwatch.backends.elasticsearch.state import ElasticsearchStateStore

__all__ = [
    "BulkOptions",
    "ElasticsearchAlertSink",
    "ElasticsearchEventSource",
    "ElasticsearchRunReports",
    "ElasticsearchStateStore",
    "EqlOptions",
    "build_client",
    "setup_cluster",
]
