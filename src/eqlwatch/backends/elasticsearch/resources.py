"""What `eqlwatch setup` creates in Elasticsearch: lifecycle, templates, data streams, state.

Every step is idempotent (PUT replaces, "already exists" is fine), so setup can run on every
deploy. Templates have priority 510: above the built-in `logs-*-*` template (100) and
integrations (up to 200), and above 500 as Elastic advises for patterns overlapping its own.
They reuse the stack's `ecs@mappings` dynamic templates when the cluster has them; the
explicit mappings below cover what dashboards and lookups need.

Alert and run-report data streams store documents the same way on 8.x and 9.x: `index.mode`
is `standard` (9.x would make `logs-*-*` logsdb, whose synthetic `_source` rewrites arrays),
and from 8.19 the failure store is off, so a document the mapping refuses is refused in the
bulk answer instead of being parked in `::failures` with a `2xx`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from elasticsearch import BadRequestError, Elasticsearch

from eqlwatch.backends.elasticsearch.client import CLIENT_ERRORS, call, error_type, translate
from eqlwatch.backends.elasticsearch.state import STATE_MAPPINGS, STATE_SETTINGS
from eqlwatch.backends.elasticsearch.version import (
    DATA_STREAM_OPTIONS_FROM,
    StackVersion,
    cluster_version,
    require_supported,
)

ALERTS_POLICY = "eqlwatch-alerts"
RUNS_POLICY = "eqlwatch-runs"
COMPONENTS = ["logs@mappings", "logs@settings", "logs@custom", "ecs@mappings"]
TEMPLATE_PRIORITY = 510

_KW = {"type": "keyword"}
ALERT_MAPPINGS: Mapping[str, Any] = {
    "properties": {
        "@timestamp": {"type": "date"},
        "message": {"type": "match_only_text"},
        "event": {
            "properties": {
                "kind": _KW,
                "severity": {"type": "long"},
                "risk_score": {"type": "float"},
                "start": {"type": "date"},
                "end": {"type": "date"},
                "url": _KW,
                "reason": _KW,
            }
        },
        "rule": {"properties": {"id": _KW, "uuid": _KW, "name": _KW, "version": _KW}},
        "host": {"properties": {"name": _KW, "id": _KW}},
        "user": {"properties": {"name": _KW, "domain": _KW}},
        "source": {"properties": {"ip": {"type": "ip"}}},
        "destination": {"properties": {"ip": {"type": "ip"}}},
        "related": {"properties": {"ip": {"type": "ip"}, "user": _KW, "hosts": _KW}},
        # Kibana's alert suppression fields (eqlwatch.suppression), for the dashboard's sums.
        "kibana": {
            "properties": {
                "alert": {
                    "properties": {
                        "suppression": {
                            "properties": {
                                "docs_count": {"type": "long"},
                                "start": {"type": "date"},
                                "end": {"type": "date"},
                            }
                        }
                    }
                }
            }
        },
        "eqlwatch": {
            "properties": {
                "alert_id": _KW,
                "job_id": _KW,
                "rule_id": _KW,
                "severity": _KW,
                "kind": _KW,
                "note": {"type": "match_only_text"},
                "group": {  # across rules (eqlwatch.grouping)
                    "properties": {
                        "id": _KW,
                        "by": _KW,
                        "value": _KW,
                        "start": {"type": "date"},
                        "end": {"type": "date"},
                    }
                },
                "enrichment": {
                    "properties": {
                        "ips": {
                            "properties": {
                                "ip": {"type": "ip"},
                                "category": _KW,
                                "name": _KW,
                                "public": {"type": "boolean"},
                            }
                        }
                    }
                },
            }
        },
    }
}
RUN_MAPPINGS: Mapping[str, Any] = {
    "properties": {
        "@timestamp": {"type": "date"},
        "event": {
            "properties": {
                "kind": _KW,
                "dataset": _KW,
                "outcome": _KW,
                "duration": {"type": "long"},
            }
        },
        "rule": {"properties": {"id": _KW, "name": _KW}},
        "eqlwatch": {
            "properties": {
                "run": {
                    "properties": {
                        "job_id": _KW,
                        "run_id": _KW,
                        "rule_id": _KW,
                        "rule_name": _KW,
                        "status": _KW,
                        "started": {"type": "date"},
                        "duration_s": {"type": "double"},
                        "window_start": {"type": "date"},
                        "window_end": {"type": "date"},
                        "checkpoint": {"type": "date"},
                        "lag_s": {"type": "double"},
                        "searches": {"type": "long"},
                        "hits": {"type": "long"},
                        "alerts_created": {"type": "long"},
                        "alerts_existing": {"type": "long"},
                        "alerts_excepted": {"type": "long"},
                        "alerts_suppressed": {"type": "long"},
                        "note_errors": {"type": "long"},
                        "errors": {"type": "text"},
                        "notes": {"type": "text"},
                        "source_newest": {"type": "date"},
                        "source_lag_s": {"type": "double"},
                        "files_matched": {"type": "long"},
                        "files_read": {"type": "long"},
                        "records": {"type": "long"},
                        "records_skipped": {"type": "long"},
                        "late_events": {"type": "long"},
                        "late_max_delay_s": {"type": "double"},
                        "late_by_file": {"properties": {"file": _KW, "count": {"type": "long"}}},
                        "late_hits": {"type": "long"},
                    }
                },
                # One per job run with actions (eqlwatch.actions.report).
                "notifications": {
                    "properties": {
                        "job_id": _KW,
                        "run_id": _KW,
                        "recorded": {"type": "long"},
                        "sent": {"type": "long"},
                        "retried": {"type": "long"},
                        "gave_up": {"type": "long"},
                        "throttled": {"type": "long"},
                        "pending": {"type": "long"},
                        "errors": {"type": "text"},
                    }
                },
            }
        },
    }
}


def lifecycle_policy(delete_after: str) -> dict[str, Any]:
    """ILM: roll over daily or at 50 GB per primary shard, delete after `delete_after`."""
    return {
        "phases": {
            "hot": {"actions": {"rollover": {"max_age": "1d", "max_primary_shard_size": "50gb"}}},
            "delete": {"min_age": delete_after, "actions": {"delete": {}}},
        }
    }


def index_template(
    pattern: str, policy: str, mappings: Mapping[str, Any], version: StackVersion
) -> dict[str, Any]:
    """A composable data-stream template (spec: indices.put_index_template.Request)."""
    template: dict[str, Any] = {
        "settings": {"index": {"lifecycle": {"name": policy}, "mode": "standard"}},
        "mappings": dict(mappings),
    }
    if version.at_least(DATA_STREAM_OPTIONS_FROM):
        template["data_stream_options"] = {"failure_store": {"enabled": False}}
    return {
        "index_patterns": [pattern],
        "data_stream": {},
        "priority": TEMPLATE_PRIORITY,
        "composed_of": COMPONENTS,
        "ignore_missing_component_templates": COMPONENTS,
        "template": template,
        "meta": {"managed_by": "eqlwatch", "description": "eqlwatch alerts / run reports"},
    }


def template_target(data_stream: str) -> tuple[str, str]:
    """(template name, pattern): `logs-x-default` → (`logs-x`, `logs-x-*`), any namespace."""
    head, sep, _namespace = data_stream.rpartition("-")
    if not sep or head.count("-") < 1:
        return data_stream, data_stream
    return head, f"{head}-*"


def ensure_data_stream(client: Elasticsearch, name: str) -> None:
    """Create the data stream unless it exists (its template must already match it)."""
    try:
        client.indices.create_data_stream(name=name)
    except BadRequestError as exc:
        if error_type(exc) != "resource_already_exists_exception":
            raise translate(f"create data stream {name}", exc) from exc
    except CLIENT_ERRORS as exc:
        raise translate(f"create data stream {name}", exc) from exc


def ensure_state_index(client: Elasticsearch, index: str) -> None:
    """Create the (hidden) state index with strict mappings unless it exists."""
    try:
        client.indices.create(
            index=index, mappings=dict(STATE_MAPPINGS), settings=dict(STATE_SETTINGS)
        )
    except BadRequestError as exc:
        if error_type(exc) != "resource_already_exists_exception":
            raise translate(f"create index {index}", exc) from exc
        # An index from an older eqlwatch: add the fields it lacks (strict mappings).
        call(
            f"update mappings of {index}",
            client.indices.put_mapping,
            index=index,
            properties=dict(STATE_MAPPINGS["properties"]),
        )
    except CLIENT_ERRORS as exc:
        raise translate(f"create index {index}", exc) from exc


def setup_cluster(
    client: Elasticsearch,
    *,
    alerts_data_stream: str,
    runs_data_stream: str,
    state_index: str,
    alerts_retention: str = "365d",
    runs_retention: str = "30d",
    version: StackVersion | None = None,
) -> list[str]:
    """Create policies, templates, data streams and the state index; returns what was done.

    Refuses (`UnsupportedVersion`) a cluster outside the supported range before any change.
    """
    version = require_supported(version or cluster_version(client))
    done: list[str] = [f"Elasticsearch {version}: supported"]
    for policy, retention in ((ALERTS_POLICY, alerts_retention), (RUNS_POLICY, runs_retention)):
        call(
            f"put ILM policy {policy}",
            client.ilm.put_lifecycle,
            name=policy,
            policy=lifecycle_policy(retention),
        )
        done.append(f"ILM policy {policy}")
    for stream, policy, mappings in (
        (alerts_data_stream, ALERTS_POLICY, ALERT_MAPPINGS),
        (runs_data_stream, RUNS_POLICY, RUN_MAPPINGS),
    ):
        name, pattern = template_target(stream)
        call(
            f"put index template {name}",
            client.indices.put_index_template,
            name=name,
            **index_template(pattern, policy, mappings, version),
        )
        done.append(f"index template {name}")
        ensure_data_stream(client, stream)
        done.append(f"data stream {stream}")
    ensure_state_index(client, state_index)
    done.append(f"state index {state_index}")
    return done
