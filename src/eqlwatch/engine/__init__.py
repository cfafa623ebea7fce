"""The embedded EQL engine: Elasticsearch's EQL semantics over events in memory or files."""

from eqlwatch.engine.plan import SourceEvent
from eqlwatch.engine.query import CompiledQuery, Executor, QueryInfo, compile_query
from eqlwatch.engine.reader import ErrorCounter, read_event_file
from eqlwatch.engine.schema import FieldSchema, load_mapping
from eqlwatch.model import Hit, HitEvent

__all__ = [
    "CompiledQuery",
    "ErrorCounter",
    "Executor",
    "FieldSchema",
    "Hit",
    "HitEvent",
    "QueryInfo",
    "SourceEvent",
    "compile_query",
    "load_mapping",
    "read_event_file",
]
