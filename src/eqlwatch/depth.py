"""Room for the depth of events: one field of hostile input may nest 1,023 levels.

The JSON readers accept that much (orjson 1,023, msgspec ~1,000), past Python's default
recursion limit of 1,000, and enrichment, notes and alert documents walk events
recursively. Each level costs them a frame or two of the interpreter (no C stack since
Python 3.11), so a higher limit is what makes such an event an alert, not a crash.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

ROOM = 10_000  # recursion limit while walking events: several frames per level of 1,023


@contextmanager
def room() -> Iterator[None]:
    """The recursion limit at least `ROOM` inside, as it was after."""
    limit = sys.getrecursionlimit()
    if limit >= ROOM:
        yield
        return
    sys.setrecursionlimit(ROOM)
    try:
        yield
    finally:
        sys.setrecursionlimit(limit)
