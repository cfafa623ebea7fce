"""eql's parser tables kept between processes: importing eql no longer builds them.

eql builds its Lark LALR parser from its grammar when it is imported, 0.3-0.4 s of every
command that parses a query (a fifth of a warm `hunt` over detection-rules' Windows
rules), although the tables only change with eql's grammar, Lark or Python. While
`engine/parse.py` imports eql, `lark.Lark` is a subclass that loads the tables Lark itself
serialised (`Lark.save`/`_load`, what Lark's own `cache=` option does) from
`<cache folder>/grammars/<sha256>.lark`, keyed by the grammar text, the options, Lark's
version and Python's; it builds and writes them when missing. Written atomically (temp
file, rename), older files removed; read only from a folder and file private to the user
(they are pickles); anything unreadable is built again. `EQLWATCH_CACHE_DIR=off` turns
it off. `tests/engine/test_grammar_cache.py` checks a loaded parser parses as a built one.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lark
from lark.lark import _LOAD_ALLOWED_OPTIONS

from eqlwatch.cachedir import GRAMMARS, cache_root, private

FOLDER = GRAMMARS


def tables_path(grammar: str, options: dict[str, Any]) -> Path | None:
    """Where the tables for this grammar and these options are kept (None: cache off)."""
    root = cache_root()
    if root is None:
        return None
    described = "".join(f"{k}={v!r};" for k, v in sorted(options.items()))
    key = f"{grammar}\0{described}\0{lark.__version__}\0{sys.version}"
    return root / FOLDER / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.lark"


@dataclass(frozen=True)
class Kept:
    """The tables a parser was loaded from and the options it was loaded with: another
    parser of the same grammar (other options) loads from them without saving again."""

    tables: bytes
    options: dict[str, Any]

    def load(self, **options: Any) -> lark.Lark:
        loaded: lark.Lark = lark.Lark.__new__(lark.Lark)
        return loaded._load(io.BytesIO(self.tables), **{**self.options, **options})


class KeptLark(lark.Lark):
    """`lark.Lark`, its tables read from the cache when they were kept (then `kept`)."""

    kept: Kept | None = None

    def __init__(self, grammar: Any, **options: Any) -> None:
        path = None
        if isinstance(grammar, str) and "cache" not in options:
            path = tables_path(grammar, options)
        if path is not None and self._read(path, options):
            return
        super().__init__(grammar, **options)
        if path is not None:
            _write(path, self)

    def _read(self, path: Path, options: dict[str, Any]) -> bool:
        if not all(private(p) for p in (path.parent.parent, path.parent, path)):
            return False
        allowed = {k: v for k, v in options.items() if k in _LOAD_ALLOWED_OPTIONS}
        try:
            tables = path.read_bytes()
            self._load(io.BytesIO(tables), **allowed)
        except Exception:  # missing, torn, from another version: build it
            return False
        self.kept = Kept(tables, allowed)
        return True


def _write(path: Path, parser: lark.Lark) -> None:
    """Best effort: a read-only home or a full disk only means building it next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not all(private(p) for p in (path.parent.parent, path.parent)):
            return
        for older in path.parent.glob("*.lark"):
            if older != path:
                older.unlink(missing_ok=True)
        handle, temp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as stream:
                parser.save(stream, _LOAD_ALLOWED_OPTIONS)
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    except Exception:  # noqa: S110 - the cache never fails a command
        pass


@contextmanager
def kept_tables() -> Iterator[None]:
    """While this is open, parsers made with `lark.Lark` (eql's, at its import) use the cache."""
    original = lark.Lark
    lark.Lark = KeptLark  # type: ignore[misc]
    try:
        yield
    finally:
        lark.Lark = original  # type: ignore[misc]
