"""Compiled Hyperscan databases kept between processes: `hunt` no longer compiles them.

`hunt` over a big rule folder compiles a few Hyperscan databases (the needles of hundreds
of rules) before reading its first event, a quarter of a second every run although they
only change with the rules. `compiled` serialises each (`hyperscan.dumpb`) to
`<cache folder>/hyperscan/<sha256>.hsdb`, keyed by the expressions, ids, flags, mode,
the hyperscan module's version, Python's and the platform, and loads it (`loadb`) next
time. A serialised database is machine code Hyperscan trusts, and it accepts a damaged
one without a word, so a file starts with the sha256 of the rest and is read only when
that matches, and only from a folder and file private to the user. Written atomically
(temp file, rename); the oldest files beyond `KEEP` removed; anything unreadable is
compiled again. `EQLWATCH_CACHE_DIR=off` turns it off.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eqlwatch.cachedir import HYPERSCAN, cache_root, private

FOLDER = HYPERSCAN
SUFFIX = ".hsdb"
KEEP = 64  # databases kept (a hunt makes about four per rule folder)
_DIGEST = 32  # sha256 of the serialised database, at the start of the file


def db_path(
    expressions: Sequence[bytes], ids: Sequence[int], flags: Sequence[int], mode: int
) -> Path | None:
    """Where this database is kept (None: cache off)."""
    root = cache_root()
    if root is None:
        return None
    import hyperscan

    digest = hashlib.sha256()
    for expression in expressions:
        digest.update(len(expression).to_bytes(8, "big") + expression)
    version = getattr(hyperscan, "__version__", "-")
    described = (
        f"{list(ids)!r};{list(flags)!r};{mode};{version};{sys.version};"
        f"{sys.platform};{platform.machine()}"
    )
    digest.update(described.encode())
    return root / FOLDER / f"{digest.hexdigest()[:32]}{SUFFIX}"


def compiled(
    expressions: Sequence[bytes], ids: Sequence[int], flags: Sequence[int], mode: int
) -> Any:
    """A `hyperscan.Database` of these expressions: loaded when kept, else compiled and kept."""
    import hyperscan

    path = db_path(expressions, ids, flags, mode)
    if path is not None:
        loaded = _read(path, mode)
        if loaded is not None:
            return loaded
    db = hyperscan.Database(mode=mode)
    db.compile(expressions=list(expressions), ids=list(ids), flags=list(flags))
    if path is not None:
        _write(path, db)
    return db


def _read(path: Path, mode: int) -> Any:
    """The kept database, or None when missing, shared, damaged or from elsewhere."""
    import hyperscan

    if not all(private(p) for p in (path.parent.parent, path.parent, path)):
        return None
    try:
        data = path.read_bytes()
    except OSError:
        return None
    body = data[_DIGEST:]
    if len(data) <= _DIGEST or hashlib.sha256(body).digest() != data[:_DIGEST]:
        return None
    try:
        db = hyperscan.loadb(body, mode)
    except Exception:  # another Hyperscan or CPU: compile it
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # recently used: kept by `_trim`
    return db


def _write(path: Path, db: Any) -> None:
    """Best effort: a read-only home or a full disk only means compiling it next time."""
    import hyperscan

    try:
        body = hyperscan.dumpb(db)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not all(private(p) for p in (path.parent.parent, path.parent)):
            return
        handle, temp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(hashlib.sha256(body).digest() + body)
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        _trim(path.parent)
    except Exception:  # noqa: S110 - the cache never fails a command
        pass


def _trim(folder: Path) -> None:
    """Remove the least recently written databases beyond `KEEP`."""
    dated = []
    for kept in folder.glob(f"*{SUFFIX}"):
        try:
            dated.append((kept.stat().st_mtime_ns, kept))
        except OSError:
            continue
    dated.sort(reverse=True)
    for _, old in dated[KEEP:]:
        old.unlink(missing_ok=True)
