"""Inter-process locks and atomic file replacement for the local backend's files.

Several eqlwatch processes on one host (cron overlapping a daemon, two first runs) share
the alerts file, the state file and the demo data. An exclusive `flock` on a lock file
beside each serialises their writers; the kernel drops the lock when a process dies, even
by SIGKILL, so a crash never leaves a lock behind. The lock file is never deleted: deleting
it would let two processes lock two different inodes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def lock_path_for(path: Path) -> Path:
    """The lock file guarding `path`: `<name>.lock` in the same folder."""
    return path.with_name(path.name + ".lock")


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path`'s lock file for the body (blocks until free)."""
    lock_path = lock_path_for(path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (the directory entry, not only the data)."""
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so a reader or a crash sees the old or the new, never half.

    The temporary file sits in the same folder (a rename is atomic only within one file
    system) and ends in `.tmp`, so globs such as `*.ndjson` never pick it up.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
