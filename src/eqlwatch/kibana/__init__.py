"""Kibana: the saved objects eqlwatch ships (data views, saved search, dashboard) and their import.

`saved_objects.ndjson` beside this file is generated from `objects.py` (a test keeps the two
equal), so it can also be imported by hand:
`curl -X POST "$KIBANA_URL/api/saved_objects/_import?overwrite=true" -H "kbn-xsrf: true"
--form file=@saved_objects.ndjson` (plus credentials).
"""

from __future__ import annotations

from importlib.resources import files

from eqlwatch.kibana.importer import ImportResult, import_saved_objects
from eqlwatch.kibana.objects import saved_objects, to_ndjson

__all__ = ["ImportResult", "bundled_ndjson", "import_saved_objects", "saved_objects", "to_ndjson"]


def bundled_ndjson() -> bytes:
    """The shipped NDJSON export (default data stream names)."""
    return files("eqlwatch.kibana").joinpath("saved_objects.ndjson").read_bytes()
