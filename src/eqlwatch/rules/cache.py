"""Rules and parsed queries kept across processes: a big rule folder is read once, not per run.

Reading a detection-rules file (TOML, then the model) and parsing its query are what loading
costs (`bench/rules_bench.py`'s split); reading a kept result back is many times cheaper.
Entries live in one SQLite file in the user's cache folder (`$EQLWATCH_CACHE_DIR`, else
`$XDG_CACHE_HOME/eqlwatch`, else `~/.cache/eqlwatch`; `EQLWATCH_CACHE_DIR=off` turns it
off), keyed by a hash of a rule file's content (and path) or of a query's text, in a folder
named by a fingerprint of everything a result depends on: eqlwatch's own source files and
the versions of Python, eql, lark, pydantic, pySigma and the regex engines. Also kept: which
query texts compiled with which options, so checking a rule need not compile it again.
One file, not one per entry: this filesystem made creating 3,000 small files cost more
than the parses they saved.

New entries are buffered and written in one transaction (`flush`, at the end of a load and
at exit). SQLite's locking keeps concurrent processes from corrupting the file (WAL mode:
readers never wait; a writer that cannot get the lock within a few seconds drops its
entries). Any change of fingerprint starts a new folder, so the cache is safe to delete at
any time. A run marks its folder used; a new folder removes the others except the
`KEEP_OTHERS` used last, so two installs of different versions for one user (a venv and a
pipx install) keep each other's entries instead of clearing them on every run. Only
successes are kept: a broken rule is read and reported afresh each run. An entry that
cannot be read, or holds the wrong kind of value, is ignored and written again; a file
that is not a database is replaced. Entries are pickles, so they are read only from a
folder and file private to the user.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import pickle
import re
import shutil
import sys
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from eqlwatch.cachedir import ENV as ENV
from eqlwatch.cachedir import KEPT
from eqlwatch.cachedir import cache_root as cache_root
from eqlwatch.cachedir import private as _private
from eqlwatch.rules.model import Rule

if TYPE_CHECKING:  # the parser (eql, lark) is imported only when a query is parsed
    import sqlite3

    from eqlwatch.engine.parse import ParsedQuery

DB_NAME = "entries.sqlite"
LOCK_WAIT_S = 5.0  # how long a writer waits for another process's transaction
KEEP_OTHERS = 3  # folders of other fingerprints kept (other installs), the ones used last
T = TypeVar("T")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS entries (kind TEXT NOT NULL, key BLOB NOT NULL, "
    "value BLOB NOT NULL, PRIMARY KEY (kind, key)) WITHOUT ROWID"
)


DEPENDENCIES = ("eql", "lark", "pydantic", "pydantic-core", "pysigma", "google-re2", "hyperscan")


@cache
def fingerprint() -> str:
    """A hash of what a cached value depends on: eqlwatch's code and its parsers' versions."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parents[1]
    for source in sorted(package.rglob("*.py")):
        digest.update(source.relative_to(package).as_posix().encode())
        digest.update(source.read_bytes())
    for dist in DEPENDENCIES:
        digest.update(f"{dist}={';'.join(installed(dist)) or '-'};".encode())
    digest.update(sys.version.encode())
    return digest.hexdigest()[:20]


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def installed(dist: str) -> list[str]:
    """The metadata folders of `dist` on sys.path (`name-version.dist-info`): every version
    installed shows in their names, so a changed one changes the fingerprint.

    `importlib.metadata.version` answers the same, but importing it (email parsing, zip
    support) and asking for 7 distributions took 20-40 ms of each `hunt`'s start-up, more
    than the rest of what a warm rule cache costs.
    """
    wanted = _normal(dist)
    found = []
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:  # a zip, a missing folder
            continue
        for name in names:
            stem, dot, kind = name.rpartition(".")
            if dot and kind in ("dist-info", "egg-info") and _normal(stem.split("-")[0]) == wanted:
                found.append(name)
    return sorted(found)


def database() -> Path | None:
    """Where this eqlwatch's entries are (None when the cache is off)."""
    settings = (os.environ.get(ENV), os.environ.get("XDG_CACHE_HOME"), os.environ.get("HOME"))
    return _database(settings)


@lru_cache(maxsize=8)
def _database(settings: tuple[str | None, ...]) -> Path | None:
    """Asked once per entry, so computed once per setting (Path work showed in profiles)."""
    root = cache_root()
    return None if root is None else root / fingerprint() / DB_NAME


class _Store:
    """This process's connection to one cache file, and the entries it has yet to write."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pending: dict[tuple[str, bytes], bytes] = {}
        self._connection: sqlite3.Connection | None = None
        self._opened = False

    def connection(self) -> sqlite3.Connection | None:
        """Opened on first use; None when the cache cannot be used (never an error)."""
        if not self._opened:
            self._opened = True
            self._connection = self._open()
        return self._connection

    def _open(self) -> sqlite3.Connection | None:
        import sqlite3

        folder = self.path.parent
        try:
            if folder.is_dir():
                _mark_used(folder)
            else:
                _prune(folder)
            if not all(_private(p) for p in (folder.parent, folder, self.path)):
                return None
            for attempt in range(2):
                try:
                    return _connect(self.path)
                except sqlite3.DatabaseError:  # not a database (damaged): start it again
                    if attempt:
                        raise
                    _remove_database(self.path)
        except (OSError, sqlite3.Error):  # a read-only home, a full disk: run without it
            return None
        return None

    def get(self, kind: str, key: bytes) -> bytes | None:
        value = self.pending.get((kind, key))
        if value is not None:
            return value
        connection = self.connection()
        if connection is None:
            return None
        try:
            row = connection.execute(
                "SELECT value FROM entries WHERE kind = ? AND key = ?", (kind, key)
            ).fetchone()
        except Exception:  # damaged, locked in a way WAL readers are not: compute it
            return None
        return None if row is None else bytes(row[0])

    def has(self, kind: str, key: bytes) -> bool:
        if (kind, key) in self.pending:
            return True
        connection = self.connection()
        if connection is None:
            return False
        try:
            found = connection.execute(
                "SELECT 1 FROM entries WHERE kind = ? AND key = ?", (kind, key)
            ).fetchone()
        except Exception:  # damaged: as if missing
            return False
        return found is not None

    def put(self, kind: str, key: bytes, value: bytes) -> None:
        if self.connection() is not None:
            self.pending[(kind, key)] = value

    def flush(self) -> None:
        """Write what is pending in one transaction; on any failure, drop it."""
        pending, self.pending = self.pending, {}
        connection = self._connection
        if not pending or connection is None:
            return
        rows = [(kind, key, value) for (kind, key), value in pending.items()]
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.executemany(
                    "INSERT OR REPLACE INTO entries (kind, key, value) VALUES (?, ?, ?)", rows
                )
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        except Exception:  # busy past LOCK_WAIT_S, a full disk: the next run writes them
            return

    def close(self) -> None:
        self.flush()
        if self._connection is not None:
            self._connection.close()
        self._connection = None
        self._opened = False


def _connect(path: Path) -> sqlite3.Connection:
    import sqlite3

    if not path.exists():  # made private before SQLite opens it (its -wal/-shm follow)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    connection = sqlite3.connect(
        path, timeout=LOCK_WAIT_S, isolation_level=None, check_same_thread=False
    )
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")  # WAL: never corrupt, may lose the last
        connection.execute(_SCHEMA)
    except BaseException:
        connection.close()
        raise
    return connection


def _remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _mark_used(folder: Path) -> None:
    """A folder's time is when a run last opened it: pruning keeps the ones in use."""
    with contextlib.suppress(OSError):  # not ours to touch (then not private either)
        os.utime(folder)


def _prune(current: Path) -> None:
    """Remove the folders of other fingerprints but the `KEEP_OTHERS` used last.

    Old code versions leave a folder each; another install still in use keeps its own.
    """
    root = current.parent
    if root.is_dir():
        others = [p for p in root.iterdir() if p.is_dir() and p.name not in (current.name, *KEPT)]
        others.sort(key=_last_used, reverse=True)
        for other in others[KEEP_OTHERS:]:
            shutil.rmtree(other, ignore_errors=True)
    current.mkdir(parents=True, exist_ok=True, mode=0o700)


def _last_used(folder: Path) -> float:
    try:
        return folder.stat().st_mtime
    except OSError:
        return 0.0


_STORE: _Store | None = None


def _store() -> _Store | None:
    """The store for the current settings (a changed `EQLWATCH_CACHE_DIR` opens another)."""
    global _STORE
    path = database()
    if _STORE is not None and _STORE.path != path:
        _STORE.close()
        _STORE = None
    if path is not None and _STORE is None:
        _STORE = _Store(path)
    return _STORE


def flush() -> None:
    """Write the entries this process made since the last flush (one transaction)."""
    if _STORE is not None:
        _STORE.flush()


def close() -> None:
    """Flush, then let go of the file (the next use opens it again)."""
    global _STORE
    if _STORE is not None:
        _STORE.close()
    _STORE = None


atexit.register(flush)


def available() -> bool:
    """Whether the cache is on and its file can be opened (and is private)."""
    store = _store()
    return store is not None and store.connection() is not None


def pending() -> int:
    """How many entries wait to be written (tests: a warm run writes none)."""
    return 0 if _STORE is None else len(_STORE.pending)


def _key(*parts: str) -> bytes:
    return hashlib.sha256("\0".join(parts).encode()).digest()


def _read(kind: str, key: bytes, expected: type[T]) -> T | None:
    store = _store()
    raw = None if store is None else store.get(kind, key)
    if raw is None:
        return None
    try:
        value: Any = pickle.loads(raw)  # noqa: S301 - the user's own private file
    except Exception:  # torn or from elsewhere: compute it again
        return None
    return value if isinstance(value, expected) else None


def _write(kind: str, key: bytes, value: object) -> None:
    """Best effort: the cache never fails a command."""
    store = _store()
    if store is None:
        return
    try:
        store.put(kind, key, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:  # an unpicklable value: not kept
        return


def parse(text: str) -> ParsedQuery:
    """`engine.parse.parse(text)`, read back when an earlier process parsed the same text.

    Raises QueryError as the parser does (errors are not kept).
    """
    from eqlwatch.engine import parse as parser
    from eqlwatch.engine.parse import ParsedQuery

    known = parser.known_parse(text)
    if known is not None:
        return known
    key = _key(text)
    cached = _read("parsed", key, ParsedQuery)
    if cached is not None:
        parser.remember(text, cached)
        return cached
    parsed = parser.parse(text)
    _write("parsed", key, parsed)
    return parsed


def cached_rule(file: str, text: str) -> Rule | str | None:
    """The rule an earlier process read from this file's exact text, or the type it skipped."""
    value = _read("rules", _key(file, text), object)
    return value if isinstance(value, Rule | str) else None


def has_rule(file: str, text: str) -> bool:
    """Whether an entry for this file's text is kept (without reading it back)."""
    store = _store()
    return store is not None and store.has("rules", _key(file, text))


def keep_rule(file: str, text: str, value: Rule | str) -> None:
    """Remember a rule that loaded (or the type of one skipped) for this file's text."""
    _write("rules", _key(file, text), value)


def compiles(settings: tuple[str, ...]) -> bool:
    """Whether an earlier process compiled a query with these settings (text, options)."""
    store = _store()
    return store is not None and store.get("compiled", _key(*settings)) == b"ok"


def mark_compiled(settings: tuple[str, ...]) -> None:
    """Remember that a query compiled with these settings (failures are not kept)."""
    store = _store()
    if store is not None:
        store.put("compiled", _key(*settings), b"ok")
