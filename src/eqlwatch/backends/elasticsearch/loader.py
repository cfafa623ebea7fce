"""Loading test events into Elasticsearch data streams (`eqlwatch load`).

EQL needs `@timestamp` as `date` and `event.category` (and every field a rule compares) as
`keyword`; Elasticsearch's default dynamic mapping would make strings `text`. So before the
first write to a new data stream, an exact-name index template maps strings to keyword and
ECS IP fields to `ip` (on top of the stack's `ecs@mappings` when present). Events keep
their stable `_id`, so loading the same file twice adds nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from elasticsearch import Elasticsearch, helpers

from eqlwatch.backends.elasticsearch.client import CLIENT_ERRORS, call, translate
from eqlwatch.backends.elasticsearch.resources import COMPONENTS

EVENTS_TEMPLATE_PRIORITY = 520  # exact names, above the alert/run templates (510)
_BACKING = re.compile(r"^\.ds-(?P<name>.+)-\d{4}\.\d{2}\.\d{2}-\d{6}$")

EVENT_MAPPINGS: dict[str, Any] = {
    "dynamic_templates": [
        {"ips": {"match": "ip", "mapping": {"type": "ip"}}},
        {"dotted_ips": {"path_match": "*.ip", "mapping": {"type": "ip"}}},
        {
            "strings": {
                "match_mapping_type": "string",
                "mapping": {"type": "keyword", "ignore_above": 1024},
            }
        },
    ],
    "properties": {
        "@timestamp": {"type": "date"},
        "event": {"properties": {"category": {"type": "keyword"}, "sequence": {"type": "long"}}},
    },
}


@dataclass
class LoadResult:
    created: int = 0
    existing: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def data_stream_of(index: str) -> str:
    """A data stream name for an event's `_index` (backing index names lose their suffix)."""
    match = _BACKING.match(index)
    return match.group("name") if match else index


def align_data_stream_fields(source: dict[str, Any], target: str) -> dict[str, Any]:
    """Set `data_stream.{type,dataset,namespace}` to match `target` (they are constant fields)."""
    parts = target.split("-")
    if len(parts) < 3:
        return source
    kind, dataset, namespace = parts[0], "-".join(parts[1:-1]), parts[-1]
    return {**source, "data_stream": {"type": kind, "dataset": dataset, "namespace": namespace}}


def ensure_events_template(client: Elasticsearch, data_stream: str) -> bool:
    """Install an exact-name template unless the data stream already exists; True if installed."""
    exists = call("exists", client.indices.exists, index=data_stream)
    if exists:
        return False
    call(
        "put events template",
        client.indices.put_index_template,
        name=f"eqlwatch-events-{data_stream}",
        index_patterns=[data_stream],
        data_stream={},
        priority=EVENTS_TEMPLATE_PRIORITY,
        composed_of=COMPONENTS,
        ignore_missing_component_templates=COMPONENTS,
        template={"mappings": EVENT_MAPPINGS},
        meta={"managed_by": "eqlwatch", "description": "events loaded by eqlwatch load"},
    )
    return True


def load_events(
    client: Elasticsearch,
    events: Iterable[tuple[str, str, dict[str, Any]]],
    *,
    chunk_size: int = 500,
    max_retries: int = 5,
    initial_backoff_s: float = 1.0,
    progress: Callable[[int], None] = lambda _n: None,
) -> LoadResult:
    """`create` (data stream, id, source) triples; 409 = already loaded; reports each doc."""
    result = LoadResult()

    def actions() -> Iterator[dict[str, Any]]:
        for target, doc_id, source in events:
            yield {"_op_type": "create", "_index": target, "_id": doc_id, "_source": source}

    try:
        for _ok, item in helpers.streaming_bulk(
            client,
            actions(),
            chunk_size=chunk_size,
            max_retries=max_retries,
            initial_backoff=initial_backoff_s,
            raise_on_error=False,
        ):
            (outcome,) = item.values()
            status = int(outcome.get("status", 0))
            if 200 <= status < 300:
                result.created += 1
            elif status == 409:
                result.existing += 1
            else:
                result.failed += 1
                if len(result.errors) < 10:
                    result.errors.append(
                        f"{outcome.get('_id')}: HTTP {status} {outcome.get('error')}"
                    )
            progress(1)
    except CLIENT_ERRORS as exc:
        raise translate("bulk load", exc) from exc
    return result


def refresh(client: Elasticsearch, targets: Iterable[str]) -> None:
    """Make loaded events searchable now (tests query right after loading)."""
    names = sorted(set(targets))
    if names:
        call("refresh", client.indices.refresh, index=",".join(names))
