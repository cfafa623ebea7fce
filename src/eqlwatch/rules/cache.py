"""Rules and parsed queries kept across processes: a big rule folder is read once, not per run.

Reading a detection-rules file (TOML, then the model) and parsing its query are what loading
costs (~6 ms of CPU a rule, `bench/rules_bench.py`'s split); unpickling a parse is ~17x
cheaper than making it (detection-rules' 391 Windows EQL queries: 1.85 s to parse, 0.11 s
to unpickle, CPU, measured in one process). Entries live in the user's cache
folder (`$EQLWATCH_CACHE_DIR`, else `$XDG_CACHE_HOME/eqlwatch`, else `~/.cache/eqlwatch`;
`EQLWATCH_CACHE_DIR=off` turns it off), one file per rule file or query text, keyed by a
hash of its content (and path), in a folder named by a fingerprint of everything a result
depends on: eqlwatch's own source files and the versions of Python, eql, lark, pydantic
and pySigma.
Any change starts a new folder (older ones are removed), so the cache is safe to delete at
any time. Only successes are kept: a broken rule is read and reported afresh each run. An
entry that cannot be read, or holds the wrong kind of value, is ignored and written again.
Entries are pickles, so the folder is created private to the user (0700).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import sys
import tempfile
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from eqlwatch.rules.model import Rule

if TYPE_CHECKING:  # the parser (eql, lark) is imported only when a query is parsed
    from eqlwatch.engine.parse import ParsedQuery

ENV = "EQLWATCH_CACHE_DIR"
T = TypeVar("T")


def cache_root() -> Path | None:
    """The cache folder, or None when the cache is off."""
    configured = os.environ.get(ENV)
    if configured is not None:
        return None if configured.strip().lower() in ("", "off", "0", "no") else Path(configured)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "eqlwatch"


@cache
def fingerprint() -> str:
    """A hash of what a cached value depends on: eqlwatch's code and its parsers' versions."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parents[1]
    for source in sorted(package.rglob("*.py")):
        digest.update(source.relative_to(package).as_posix().encode())
        digest.update(source.read_bytes())
    for dist in ("eql", "lark", "pydantic", "pydantic-core", "pysigma"):
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            version = "-"
        digest.update(f"{dist}={version};".encode())
    digest.update(sys.version.encode())
    return digest.hexdigest()[:20]


def _folder(kind: str) -> Path | None:
    root = cache_root()
    if root is None:
        return None
    folder = root / fingerprint() / kind
    return folder if _private(folder) else None


def _private(folder: Path) -> bool:
    """Pickles are only read from a folder the user owns and nobody else can write to."""
    for path in (folder, folder.parent):
        try:
            info = path.stat()
        except OSError:
            continue  # not made yet: it will be made private
        getuid = getattr(os, "getuid", None)  # POSIX only; Windows has ACLs instead
        if (getuid is not None and info.st_uid != getuid()) or info.st_mode & 0o022:
            return False
    return True


def _entry(folder: Path, *parts: str) -> Path:
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()
    return folder / f"{digest}.pickle"


def _read(path: Path, kind: type[T]) -> T | None:
    try:
        with path.open("rb") as stream:
            value = pickle.load(stream)  # noqa: S301 - the user's own private folder
    except Exception:  # missing, torn, or from elsewhere: compute it again
        return None
    return value if isinstance(value, kind) else None


def _write(folder: Path, path: Path, value: object) -> None:
    """Best effort, atomic (temp file + rename): the cache never fails a command."""
    try:
        if not folder.is_dir():
            _prune(folder.parent)
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle, temp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(handle, "wb") as stream:
            pickle.dump(value, stream, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temp, path)
    except Exception:  # a read-only home, a full disk: run without the cache
        return


def _prune(current: Path) -> None:
    """Remove the folders of other fingerprints: nothing will read them again."""
    root = current.parent
    if root.is_dir():
        for other in root.iterdir():
            if other.is_dir() and other.name != current.name:
                shutil.rmtree(other, ignore_errors=True)
    current.mkdir(parents=True, exist_ok=True, mode=0o700)


def parse(text: str) -> ParsedQuery:
    """`engine.parse.parse(text)`, read back when an earlier process parsed the same text.

    Raises QueryError as the parser does (errors are not kept).
    """
    from eqlwatch.engine import parse as parser
    from eqlwatch.engine.parse import ParsedQuery

    known = parser.known_parse(text)
    if known is not None:
        return known
    folder = _folder("parsed")
    if folder is None:
        return parser.parse(text)
    path = _entry(folder, text)
    cached = _read(path, ParsedQuery)
    if cached is not None:
        parser.remember(text, cached)
        return cached
    parsed = parser.parse(text)
    _write(folder, path, parsed)
    return parsed


def _rule_entry(file: str, text: str) -> tuple[Path, Path] | None:
    folder = _folder("rules")
    return None if folder is None else (folder, _entry(folder, file, text))


def cached_rule(file: str, text: str) -> Rule | str | None:
    """The rule an earlier process read from this file's exact text, or the type it skipped."""
    where = _rule_entry(file, text)
    if where is None:
        return None
    value = _read(where[1], object)
    return value if isinstance(value, Rule | str) else None


def keep_rule(file: str, text: str, value: Rule | str) -> None:
    """Remember a rule that loaded (or the type of one skipped) for this file's text."""
    where = _rule_entry(file, text)
    if where is not None:
        _write(where[0], where[1], value)
