"""A liveness file the daemon rewrites after every run, and the check a container runs on it.

A process can be up while its scheduler is wedged; the heartbeat's age says whether runs
still complete, which is what a container HEALTHCHECK should ask.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timedelta
from pathlib import Path


def beat(path: Path, now: datetime) -> None:
    """Atomically record `now` as the time the last run finished."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, dir=path.parent)
    with os.fdopen(fd, "w") as handle:
        handle.write(now.isoformat() + "\n")
    os.replace(tmp, path)


def age(path: Path, now: datetime) -> timedelta | None:
    """How long ago the last run finished; None when there is no readable heartbeat."""
    try:
        last = datetime.fromisoformat(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return now - last
