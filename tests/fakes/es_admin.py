"""Stand-in handlers for cluster set-up (templates, lifecycle, data streams, indices) and
Kibana's saved objects import. Each docstring names the specification type it follows
(elastic/elasticsearch-specification `specification/...`; Kibana: the import API reference).
"""

from __future__ import annotations

import json
from email.parser import BytesParser
from email.policy import HTTP
from typing import TYPE_CHECKING, Any

from tests.fakes.es_request import SHARDS, Request
from tests.fakes.es_store import EsError

if TYPE_CHECKING:
    from tests.fakes.es_server import FakeElasticsearch


def cluster_health(fake: FakeElasticsearch, req: Request) -> tuple[int, Any]:
    """`GET /_cluster/health` (spec: cluster/health/ClusterHealthResponse), one node, green."""
    return 200, {"cluster_name": "stand-in", "status": "green", "timed_out": False,
                 "number_of_nodes": 1, "number_of_data_nodes": 1}  # fmt: skip


def get_component_template(fake: FakeElasticsearch, req: Request, name: str) -> tuple[int, Any]:
    """`GET /_component_template/{name}` (spec: cluster/get_component_template): 404 until the
    stack has installed it."""
    if name not in fake.component_templates:
        raise EsError(
            404, "resource_not_found_exception", f"component template matching [{name}] not found"
        )
    return 200, {"component_templates": [{"name": name, "component_template": {"template": {}}}]}


def put_template(fake: FakeElasticsearch, req: Request, name: str) -> tuple[int, Any]:
    """`PUT /_index_template/{name}` (spec: indices/put_index_template)."""
    body = req.json()
    if not body.get("index_patterns"):
        raise EsError(400, "action_request_validation_exception", "index patterns are missing")
    if "data_stream_options" in body.get("template", {}) and not fake.at_least(8, 19):
        raise EsError(
            400, "x_content_parse_exception", "[template] unknown field [data_stream_options]"
        )
    for other in fake.store.templates.values():
        overlap = set(other["index_patterns"]) & set(body["index_patterns"])
        if (
            other is not fake.store.templates.get(name)
            and overlap
            and (other.get("priority", 0) == body.get("priority", 0))
        ):
            raise EsError(
                400,
                "illegal_argument_exception",
                f"index template [{name}] has index patterns {sorted(overlap)} matching "
                "another template's with the same priority",
            )
    fake.store.templates[name] = body
    return 200, {"acknowledged": True}


def put_policy(fake: FakeElasticsearch, req: Request, name: str) -> tuple[int, Any]:
    """`PUT /_ilm/policy/{name}` (spec: ilm/put_lifecycle)."""
    body = req.json()
    if "policy" not in body or "phases" not in body["policy"]:
        raise EsError(400, "x_content_parse_exception", "policy.phases is required")
    fake.store.policies[name] = body["policy"]
    return 200, {"acknowledged": True}


def put_data_stream(fake: FakeElasticsearch, req: Request, name: str) -> tuple[int, Any]:
    """`PUT /_data_stream/{name}` (spec: indices/create_data_stream)."""
    fake.store.create_data_stream(name)
    return 200, {"acknowledged": True}


def get_data_stream(fake: FakeElasticsearch, req: Request, name: str) -> tuple[int, Any]:
    """`GET /_data_stream/{name}` (spec: indices/get_data_stream, abridged)."""
    if name not in fake.store.data_streams:
        raise EsError(404, "index_not_found_exception", f"no such index [{name}]")
    backing = fake.store.data_streams[name]
    return 200, {
        "data_streams": [
            {
                "name": name,
                "timestamp_field": {"name": "@timestamp"},
                "generation": len(backing),
                "indices": [{"index_name": b, "index_uuid": b} for b in backing],
                "status": "GREEN",
                "template": (fake.store.template_for(name) or {}).get("name", ""),
                "hidden": False,
            }
        ]
    }


def rollover(fake: FakeElasticsearch, req: Request, name: str) -> tuple[int, Any]:
    """`POST /{alias}/_rollover` (spec: indices/rollover/IndicesRolloverResponse)."""
    if name not in fake.store.data_streams:
        raise EsError(400, "illegal_argument_exception", f"[{name}] is not a data stream")
    old, new = fake.store.rollover(name)
    return 200, {
        "acknowledged": True,
        "shards_acknowledged": True,
        "old_index": old,
        "new_index": new,
        "rolled_over": True,
        "dry_run": False,
        "conditions": {},
    }


def create_index(fake: FakeElasticsearch, req: Request, name: str) -> tuple[int, Any]:
    """`PUT /{index}` (spec: indices/create/IndicesCreateResponse)."""
    fake.store.create_index(name, req.json())
    return 200, {"acknowledged": True, "shards_acknowledged": True, "index": name}


def put_mapping(fake: FakeElasticsearch, req: Request, name: str) -> tuple[int, Any]:
    """`PUT /{index}/_mapping` (spec: indices/put_mapping): new properties are merged in."""
    names = fake.store.resolve(name)
    for index in names:
        props = fake.store.indices[index].mappings.setdefault("properties", {})
        props.update(req.json().get("properties", {}))
    return 200, {"acknowledged": True}


def index_exists(fake: FakeElasticsearch, req: Request, name: str) -> tuple[int, Any]:
    """`HEAD /{index}` (spec: indices/exists): 200 or 404, no body."""
    return (200 if fake.store.resolve(name, ignore_unavailable=True) else 404), None


def refresh(fake: FakeElasticsearch, req: Request, target: str = "_all") -> tuple[int, Any]:
    """`POST /{target}/_refresh` (spec: indices/refresh, ShardsOperationResponseBase)."""
    return 200, {"_shards": SHARDS}


def _bad_request(message: str) -> tuple[int, Any]:
    return 400, {"statusCode": 400, "error": "Bad Request", "message": message}


def _uploaded_file(req: Request) -> bytes | None:
    """The multipart/form-data field `file`, or None."""
    head = f"Content-Type: {req.headers.get('Content-Type', '')}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + req.raw)
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            payload = part.get_payload(decode=True)
            return payload if isinstance(payload, bytes) else None
    return None


def kibana_import(fake: FakeElasticsearch, req: Request) -> tuple[int, Any]:
    """Kibana `POST /api/saved_objects/_import`: multipart `file` of NDJSON saved objects."""
    if "kbn-xsrf" not in {k.lower() for k in req.headers}:
        return _bad_request("Request must contain a kbn-xsrf header.")
    payload = _uploaded_file(req)
    if payload is None:
        return _bad_request("[file]: required")
    objects = [json.loads(line) for line in payload.decode().splitlines() if line.strip()]
    known = {(o["type"], o["id"]) for o in fake.store.saved_objects + objects}
    errors, results = [], []
    for obj in objects:
        key, title = (obj["type"], obj["id"]), obj["attributes"].get("title", "")
        missing = [r for r in obj.get("references", []) if (r["type"], r["id"]) not in known]
        if missing:
            error = {"type": "missing_references", "references": missing}
            errors.append({"id": obj["id"], "type": obj["type"], "title": title, "error": error})
            continue
        if req.params.get("overwrite") == "true":
            fake.store.saved_objects = [
                o for o in fake.store.saved_objects if (o["type"], o["id"]) != key
            ]
        fake.store.saved_objects.append(obj)
        results.append({"type": obj["type"], "id": obj["id"], "meta": {"title": title}})
    body = {"success": not errors, "successCount": len(results), "successResults": results}
    return 200, {**body, "errors": errors}
