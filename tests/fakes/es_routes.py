"""Handlers of the stand-in server for documents, search and EQL, and the route table.

Each docstring names the specification type its request/response follows
(elastic/elasticsearch-specification `specification/...`; Kibana: the saved objects
import API reference). Handlers run under the store lock.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tests.fakes.es_admin import (
    cluster_health,
    create_index,
    get_component_template,
    get_data_stream,
    index_exists,
    kibana_import,
    put_data_stream,
    put_mapping,
    put_policy,
    put_template,
    refresh,
    rollover,
)
from tests.fakes.es_eql import epoch_ms, lookup
from tests.fakes.es_request import SHARDS, Request
from tests.fakes.es_store import EsError

if TYPE_CHECKING:
    from tests.fakes.es_server import FakeElasticsearch

# Body fields of eql/search/EqlSearchRequest.ts; Elasticsearch rejects any other field.
# The allow_partial_* pair exists from 8.18 (the spec's 8.17 branch lacks it).
EQL_PARTIAL_FLAGS = frozenset({"allow_partial_search_results", "allow_partial_sequence_results"})
EQL_BODY = frozenset(
    {
        "query",
        "case_sensitive",
        "event_category_field",
        "tiebreaker_field",
        "timestamp_field",
        "fetch_size",
        "filter",
        "keep_alive",
        "keep_on_completion",
        "wait_for_completion_timeout",
        "size",
        "fields",
        "result_position",
        "runtime_mappings",
        "max_samples_per_key",
        "allow_partial_search_results",
        "allow_partial_sequence_results",
    }
)
# _global/bulk/types.ts: OperationBase + WriteOperation fields.
BULK_META = frozenset(
    {
        "_id",
        "_index",
        "routing",
        "if_primary_term",
        "if_seq_no",
        "version",
        "version_type",
        "dynamic_templates",
        "pipeline",
        "require_alias",
    }
)
SEARCH_BODY = frozenset(
    {
        "query",
        "size",
        "from",
        "_source",
        "sort",
        "track_total_hits",
        "aggs",
        "aggregations",
        "seq_no_primary_term",
    }
)


def _known_fields(api: str, body: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise EsError(400, "x_content_parse_exception", f"[{api}] unknown field [{unknown[0]}]")


def info(fake: FakeElasticsearch, req: Request) -> tuple[int, Any]:
    """`GET /` (spec: _global/info/RootNodeInfoResponse), for the version this fake plays."""
    return 200, {
        "name": "fake-node",
        "cluster_name": "fake",
        "cluster_uuid": "fake-uuid",
        "version": {
            "number": fake.version,
            "build_flavor": "default",
            "lucene_version": "9.12.0",
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0",
        },
        "tagline": "You Know, for Search",
    }


def _doc_meta(index: str, doc_id: str, doc: Any, result: str, status: int) -> dict[str, Any]:
    return {
        "_index": index,
        "_id": doc_id,
        "_version": doc.version,
        "result": result,
        "_shards": SHARDS,
        "_seq_no": doc.seq_no,
        "_primary_term": doc.primary_term,
        "status": status,
    }


def index_doc(
    fake: FakeElasticsearch, req: Request, target: str, kind: str, doc_id: str | None = None
) -> tuple[int, Any]:
    """`PUT|POST /{index}/_doc/{id}`, `/_create/{id}` (spec: _global/index, _global/create)."""
    op_type = "create" if kind == "_create" else req.params.get("op_type", "index")
    index, doc_id, doc, created = fake.store.write(
        target,
        doc_id,
        req.json(),
        op_type=op_type,
        if_seq_no=req.int_param("if_seq_no"),
        if_primary_term=req.int_param("if_primary_term"),
    )
    status = 201 if created else 200
    body = _doc_meta(index.name, doc_id, doc, "created" if created else "updated", status)
    body.pop("status")
    return status, body


def get_doc(fake: FakeElasticsearch, req: Request, target: str, doc_id: str) -> tuple[int, Any]:
    """`GET /{index}/_doc/{id}` (spec: _global/get/GetResponse)."""
    found = fake.store.get(target, doc_id)
    if found is None:
        return 404, {"_index": target, "_id": doc_id, "found": False}
    index, doc = found
    return 200, {
        "_index": index.name,
        "_id": doc_id,
        "_version": doc.version,
        "_seq_no": doc.seq_no,
        "_primary_term": doc.primary_term,
        "found": True,
        "_source": doc.source,
    }


def delete_doc(fake: FakeElasticsearch, req: Request, target: str, doc_id: str) -> tuple[int, Any]:
    """`DELETE /{index}/_doc/{id}` (spec: _global/delete/DeleteResponse)."""
    found = fake.store.delete(
        target, doc_id, req.int_param("if_seq_no"), req.int_param("if_primary_term")
    )
    if found is None:
        return 404, {"_index": target, "_id": doc_id, "result": "not_found", "_shards": SHARDS}
    index, doc = found
    return 200, {
        "_index": index.name,
        "_id": doc_id,
        "_version": doc.version + 1,
        "result": "deleted",
        "_shards": SHARDS,
        "_seq_no": doc.seq_no,
        "_primary_term": doc.primary_term,
    }


def _bulk_item(
    fake: FakeElasticsearch, op: str, meta: dict[str, Any], source: dict[str, Any], target: Any
) -> dict[str, Any]:
    """One ResponseItem: the write's metadata, or its status and ErrorCause."""
    fault = fake.faults.take("BULK", target or "", ("item_status", "failure_store"))
    if fault is not None and fault.kind == "failure_store":
        # 9.x: a document failing its mapping goes to the failure store, answered 2xx.
        fake.failure_store.append((target, meta.get("_id"), source))
        return {
            "_index": f".fs-{target}-000001",
            "_id": meta.get("_id"),
            "_version": 1,
            "result": "created",
            "_shards": SHARDS,
            "_seq_no": 0,
            "_primary_term": 1,
            "status": 201,
            "failure_store": "used",
        }
    try:
        if fault is not None:
            raise EsError(fault.status, "es_rejected_execution_exception", "injected rejection")
        index, doc_id, doc, created = fake.store.write(target, meta.get("_id"), source, op_type=op)
    except EsError as exc:
        error = exc.body()["error"]
        error.pop("root_cause")
        return {"_index": target, "_id": meta.get("_id"), "status": exc.status, "error": error}
    result, status = ("created", 201) if created else ("updated", 200)
    return _doc_meta(index.name, doc_id, doc, result, status)


def bulk(
    fake: FakeElasticsearch, req: Request, default_index: str | None = None
) -> tuple[int, Any]:
    """`POST /_bulk` NDJSON (spec: _global/bulk/BulkRequest, BulkResponse, ResponseItem)."""
    lines = [json.loads(line) for line in req.raw.decode().splitlines() if line.strip()]
    items: list[dict[str, Any]] = []
    i = 0
    while i < len(lines):
        ((op, meta),) = lines[i].items()
        _known_fields("bulk", meta, BULK_META)
        source = lines[i + 1] if op in ("create", "index") else {}
        i += 2 if op in ("create", "index") else 1
        items.append({op: _bulk_item(fake, op, meta, source, meta.get("_index", default_index))})
    errors = any("error" in next(iter(item.values())) for item in items)
    return 200, {"took": 1, "errors": errors, "items": items}


def search(fake: FakeElasticsearch, req: Request, target: str) -> tuple[int, Any]:
    """`GET|POST /{target}/_search` with `ids` or `match_all` (spec: _global/search)."""
    body = req.json()
    _known_fields("search", body, SEARCH_BODY)
    query = body.get("query", {"match_all": {}})
    ((kind, spec),) = query.items()
    ignore = req.params.get("ignore_unavailable") == "true"
    docs = fake.store.documents(target, ignore_unavailable=ignore)
    names = fake.store.resolve(target, ignore_unavailable=True)
    if not names and req.params.get("allow_no_indices") == "false":
        raise EsError(404, "index_not_found_exception", f"no such index [{target}]")
    if kind == "ids":
        wanted = set(spec["values"])
        docs = [d for d in docs if d[1] in wanted]
    elif kind != "match_all":
        raise EsError(400, "parsing_exception", f"unknown query [{kind}]")
    size = int(body.get("size", req.params.get("size", 10)))
    with_source = body.get("_source", req.params.get("_source", True)) not in (False, "false")
    hits = [
        {"_index": ix, "_id": i, "_score": 1.0, **({"_source": s} if with_source else {})}
        for ix, i, s in docs[:size]
    ]
    if body.get("seq_no_primary_term", req.params.get("seq_no_primary_term")) in (True, "true"):
        for hit in hits:
            doc = fake.store.indices[str(hit["_index"])].docs[str(hit["_id"])]
            hit["_seq_no"], hit["_primary_term"] = doc.seq_no, doc.primary_term
    answer: dict[str, Any] = {
        "took": 1,
        "timed_out": False,
        "_shards": SHARDS if names else {"total": 0, "successful": 0, "failed": 0},
        "hits": {"total": {"value": len(docs), "relation": "eq"}, "max_score": 1.0, "hits": hits},
    }
    aggs = body.get("aggs", body.get("aggregations"))
    if aggs:
        answer["aggregations"] = {name: _aggregate(spec, docs) for name, spec in aggs.items()}
    return 200, answer


def _aggregate(spec: dict[str, Any], docs: list[tuple[str, str, dict[str, Any]]]) -> Any:
    """`max` over a date field (spec: aggregations.MaxAggregate): epoch millis, or null."""
    ((kind, params),) = spec.items()
    if kind != "max":
        raise EsError(400, "parsing_exception", f"unknown aggregation [{kind}]")
    values = [epoch_ms(v) for _, _, s in docs if (v := lookup(s, params["field"])) is not None]
    if not values:
        return {"value": None}
    newest = max(values)
    stamp = datetime.fromtimestamp(newest / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return {"value": float(newest), "value_as_string": stamp[:-3] + "Z"}


def eql(fake: FakeElasticsearch, req: Request, target: str) -> tuple[int, Any]:
    """`POST /{target}/_eql/search` (spec: eql/search/EqlSearchRequest, EqlSearchResponse)."""
    body = req.json()
    allowed = EQL_BODY if fake.at_least(8, 18) else EQL_BODY - EQL_PARTIAL_FLAGS
    _known_fields("eql/search", body, allowed)
    if not fake.store.resolve(target, ignore_unavailable=True):
        # What EQL answers before any data arrived (elastic/elasticsearch#62986, #63295).
        raise EsError(404, "index_not_found_exception", f"no such index [{target}]")
    events = fake.store.documents(target, ignore_unavailable=True)
    if fake.faults.take("EQL", req.path, ("shard_failure",)) is not None:
        return 200, _partial(target, with_failures=True)
    if fake.faults.take("EQL", req.path, ("partial",)) is not None:
        return 200, _partial(target, with_failures=False)
    result = fake.evaluator(events, body)
    async_fault = fake.faults.take("EQL", req.path, ("async",))
    if async_fault is not None:
        search_id = f"FakeAsyncId{len(fake.async_searches) + 1}"
        fake.async_searches[search_id] = {"result": result, "polls": async_fault.polls}
        return 200, {
            "id": search_id,
            "is_partial": True,
            "is_running": True,
            "took": 1,
            "timed_out": False,
            "hits": {},
        }
    return 200, result


def _partial(target: str, *, with_failures: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "is_partial": True,
        "is_running": False,
        "took": 1,
        "timed_out": False,
        "hits": {"total": {"value": 0, "relation": "eq"}, "events": []},
    }
    if with_failures:
        body["shard_failures"] = [
            {
                "shard": 0,
                "index": target,
                "node": "fake-node",
                "reason": {
                    "type": "node_not_connected_exception",
                    "reason": "injected shard failure",
                },
            }
        ]
    return body


def eql_get(fake: FakeElasticsearch, req: Request, search_id: str) -> tuple[int, Any]:
    """`GET /_eql/search/{id}` (spec: eql/get/EqlGetResponse)."""
    stored = fake.async_searches.get(search_id)
    if stored is None:
        raise EsError(404, "resource_not_found_exception", search_id)
    if stored["polls"] > 0:
        stored["polls"] -= 1
        return 200, {
            "id": search_id,
            "is_partial": True,
            "is_running": True,
            "took": 1,
            "timed_out": False,
            "hits": {},
        }
    return 200, {"id": search_id, **stored["result"]}


def eql_status(fake: FakeElasticsearch, req: Request, search_id: str) -> tuple[int, Any]:
    """`GET /_eql/search/status/{id}` (spec: eql/get_status/EqlGetStatusResponse)."""
    stored = fake.async_searches.get(search_id)
    if stored is None:
        raise EsError(404, "resource_not_found_exception", search_id)
    running = stored["polls"] > 0
    body = {
        "id": search_id,
        "is_running": running,
        "is_partial": running,
        "expiration_time_in_millis": 4102444800000,
    }
    return 200, body if running else {**body, "completion_status": 200}


def eql_delete(fake: FakeElasticsearch, req: Request, search_id: str) -> tuple[int, Any]:
    """`DELETE /_eql/search/{id}` (spec: eql/delete/EqlDeleteResponse = AcknowledgedResponse)."""
    if fake.async_searches.pop(search_id, None) is None:
        raise EsError(404, "resource_not_found_exception", search_id)
    return 200, {"acknowledged": True}


_SEG = r"([^/_][^/]*)"
ROUTES: list[tuple[str, re.Pattern[str], Any]] = [
    (m, re.compile(p), h)
    for m, p, h in [
        ("GET|HEAD", r"/", info),
        ("POST", r"/api/saved_objects/_import", kibana_import),
        ("POST|PUT", r"/_bulk", bulk),
        ("POST|PUT", rf"/{_SEG}/_bulk", bulk),
        ("GET|POST", rf"/{_SEG}/_eql/search", eql),
        ("GET", r"/_eql/search/status/([^/]+)", eql_status),
        ("GET", r"/_eql/search/([^/]+)", eql_get),
        ("DELETE", r"/_eql/search/([^/]+)", eql_delete),
        ("GET|POST", rf"/{_SEG}/_search", search),
        ("PUT", r"/_index_template/([^/]+)", put_template),
        ("GET", r"/_component_template/([^/]+)", get_component_template),
        ("GET", r"/_cluster/health", cluster_health),
        ("PUT", r"/_ilm/policy/([^/]+)", put_policy),
        ("PUT", r"/_data_stream/([^/]+)", put_data_stream),
        ("GET", r"/_data_stream/([^/]+)", get_data_stream),
        ("POST", rf"/{_SEG}/_rollover", rollover),
        ("POST|GET", r"/_refresh", refresh),
        ("POST|GET", rf"/{_SEG}/_refresh", refresh),
        ("PUT|POST", rf"/{_SEG}/(_doc|_create)/([^/]+)", index_doc),
        ("POST", rf"/{_SEG}/(_doc)", index_doc),
        ("GET", rf"/{_SEG}/_doc/([^/]+)", get_doc),
        ("DELETE", rf"/{_SEG}/_doc/([^/]+)", delete_doc),
        ("PUT", rf"/{_SEG}/_mapping", put_mapping),
        ("PUT", rf"/{_SEG}", create_index),
        ("HEAD", rf"/{_SEG}", index_exists),
    ]
]
