"""The state of the stand-in cluster: indices, data streams, documents, templates.

Only what eqlwatch relies on, with Elasticsearch's rules where they matter for correctness:
`_id` is unique per (backing) index only, data streams write to their newest backing index
and accept only `create`, every write bumps `_seq_no`, and conditional writes
(`if_seq_no`/`if_primary_term`) fail with a version conflict when the document moved on.
"""

from __future__ import annotations

import fnmatch
import itertools
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class EsError(Exception):
    """An Elasticsearch error response: `status` and `{"error": {type, reason}}`."""

    def __init__(self, status: int, type_: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.type = type_
        self.reason = reason

    def body(self) -> dict[str, Any]:
        cause = {"type": self.type, "reason": self.reason}
        return {"error": {"root_cause": [cause], **cause}, "status": self.status}


@dataclass
class Doc:
    source: dict[str, Any]
    seq_no: int
    primary_term: int = 1
    version: int = 1


@dataclass
class Index:
    name: str
    docs: dict[str, Doc] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    mappings: dict[str, Any] = field(default_factory=dict)
    next_seq_no: int = 0

    @property
    def hidden(self) -> bool:
        return self.name.startswith(".") or bool(self.settings.get("index", {}).get("hidden"))


class Store:
    """All cluster state behind one lock (the HTTP server is threaded)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.indices: dict[str, Index] = {}
        self.data_streams: dict[str, list[str]] = {}
        self.templates: dict[str, dict[str, Any]] = {}
        self.policies: dict[str, dict[str, Any]] = {}
        self.saved_objects: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._day = datetime(2026, 1, 1, tzinfo=UTC).strftime("%Y.%m.%d")

    # -- names ---------------------------------------------------------------------------
    def auto_id(self) -> str:
        return f"auto{next(self._ids):08d}"

    def resolve(self, target: str, *, ignore_unavailable: bool = False) -> list[str]:
        """Concrete index names of a comma-separated target; wildcards skip hidden indices."""
        names: list[str] = []
        for part in target.split(","):
            if "*" in part:
                names += [
                    b
                    for ds, backing in self.data_streams.items()
                    if fnmatch.fnmatch(ds, part)
                    for b in backing
                ]
                names += [
                    n
                    for n, ix in self.indices.items()
                    if fnmatch.fnmatch(n, part) and not ix.hidden
                ]
            elif part in self.data_streams:
                names += self.data_streams[part]
            elif part in self.indices:
                names.append(part)
            elif not ignore_unavailable:
                raise EsError(404, "index_not_found_exception", f"no such index [{part}]")
        return list(dict.fromkeys(names))

    def template_for(self, name: str) -> dict[str, Any] | None:
        matching = [
            t
            for t in self.templates.values()
            if any(fnmatch.fnmatch(name, p) for p in t.get("index_patterns", []))
        ]
        return max(matching, key=lambda t: t.get("priority", 0)) if matching else None

    # -- indices and data streams --------------------------------------------------------
    def create_index(self, name: str, body: dict[str, Any]) -> None:
        if name in self.indices or name in self.data_streams:
            raise EsError(400, "resource_already_exists_exception", f"index [{name}] exists")
        self.indices[name] = Index(
            name, settings=body.get("settings", {}), mappings=body.get("mappings", {})
        )

    def create_data_stream(self, name: str) -> None:
        if name in self.data_streams:
            raise EsError(400, "resource_already_exists_exception", f"data_stream [{name}] exists")
        template = self.template_for(name)
        if template is None or "data_stream" not in template:
            raise EsError(
                400,
                "illegal_argument_exception",
                f"no matching index template with data stream for [{name}]",
            )
        self.data_streams[name] = []
        self.rollover(name)

    def rollover(self, name: str) -> tuple[str | None, str]:
        backing = self.data_streams[name]
        old = backing[-1] if backing else None
        new = f".ds-{name}-{self._day}-{len(backing) + 1:06d}"
        self.indices[new] = Index(new)
        backing.append(new)
        return old, new

    def write_index(self, target: str) -> tuple[Index, bool]:
        """The index a write to `target` lands in (auto-creating as Elasticsearch does)."""
        if target in self.data_streams:
            return self.indices[self.data_streams[target][-1]], True
        if target in self.indices:
            return self.indices[target], False
        template = self.template_for(target)
        if template is not None and "data_stream" in template:
            self.create_data_stream(target)
            return self.write_index(target)
        self.indices[target] = Index(target)
        return self.indices[target], False

    # -- documents -----------------------------------------------------------------------
    def write(
        self,
        target: str,
        doc_id: str | None,
        source: dict[str, Any],
        *,
        op_type: str,
        if_seq_no: int | None = None,
        if_primary_term: int | None = None,
    ) -> tuple[Index, str, Doc, bool]:
        """Index or create one document; returns (index, id, doc, created)."""
        index, is_stream = self.write_index(target)
        if is_stream and op_type != "create":
            raise EsError(
                400,
                "illegal_argument_exception",
                "only write ops with an op_type of create are allowed in data streams",
            )
        if is_stream and "@timestamp" not in source:
            raise EsError(
                400,
                "document_parsing_exception",
                "data stream timestamp field [@timestamp] is missing",
            )
        doc_id = doc_id or self.auto_id()
        current = index.docs.get(doc_id)
        if op_type == "create" and current is not None:
            raise EsError(
                409,
                "version_conflict_engine_exception",
                f"[{doc_id}]: version conflict, document already exists "
                f"(current version [{current.version}])",
            )
        if (if_seq_no is not None or if_primary_term is not None) and (
            current is None
            or current.seq_no != if_seq_no
            or current.primary_term != if_primary_term
        ):
            have = "none" if current is None else f"[{current.seq_no}] and [{current.primary_term}]"
            raise EsError(
                409,
                "version_conflict_engine_exception",
                f"[{doc_id}]: version conflict, required seqNo [{if_seq_no}], "
                f"primary term [{if_primary_term}]. current document has {have}",
            )
        doc = Doc(source, index.next_seq_no, version=(current.version + 1) if current else 1)
        index.next_seq_no += 1
        index.docs[doc_id] = doc
        return index, doc_id, doc, current is None

    def get(self, target: str, doc_id: str) -> tuple[Index, Doc] | None:
        for name in self.resolve(target):
            doc = self.indices[name].docs.get(doc_id)
            if doc is not None:
                return self.indices[name], doc
        return None

    def delete(
        self, target: str, doc_id: str, if_seq_no: int | None, if_primary_term: int | None
    ) -> tuple[Index, Doc] | None:
        found = self.get(target, doc_id)
        if found is None:
            return None
        index, doc = found
        if if_seq_no is not None and (
            doc.seq_no != if_seq_no or doc.primary_term != if_primary_term
        ):
            raise EsError(
                409,
                "version_conflict_engine_exception",
                f"[{doc_id}]: version conflict, required seqNo [{if_seq_no}]",
            )
        del index.docs[doc_id]
        index.next_seq_no += 1
        return index, doc

    def documents(
        self, target: str, *, ignore_unavailable: bool = False
    ) -> list[tuple[str, str, dict[str, Any]]]:
        """(index, id, source) of every document in the target, in index then insertion order."""
        out: list[tuple[str, str, dict[str, Any]]] = []
        for name in self.resolve(target, ignore_unavailable=ignore_unavailable):
            out += [(name, i, d.source) for i, d in self.indices[name].docs.items()]
        return out

    def now_iso(self) -> str:
        return datetime.now(UTC).isoformat()
