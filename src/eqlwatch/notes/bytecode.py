"""Compiled note templates kept across processes: each process compiled its templates anew.

Compiling the pack's 9 templates took ~130 ms; read back, ~3 ms. This is jinja's own
bytecode cache (marshalled code per template, keyed by its name and file, and checked
against a sha1 of its source: an edited template is compiled again, never reused stale).
It lives in the rule cache's folder for this eqlwatch, which is named by a hash of
eqlwatch's sources (so a change to the note environment's code generator or options
starts afresh; `rules/cache.py`), in a subfolder per environment class and jinja2
version, and goes when that folder is pruned. `EQLWATCH_CACHE_DIR=off` turns it off.

A file that cannot be read back (torn, damaged, from elsewhere) is ignored: the template
is compiled and the file written again. Files hold code, so they are read only from
folders private to the user, as the rule cache's pickles are; a cache that cannot be
written never fails a note.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jinja2
from jinja2.bccache import Bucket, FileSystemBytecodeCache

from eqlwatch.cachedir import private

if TYPE_CHECKING:
    from jinja2 import Environment


class _Tolerant(FileSystemBytecodeCache):
    """Jinja's file cache, with a file that fails to load treated as missing."""

    def load_bytecode(self, bucket: Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:  # jinja checks the header and the checksum, not the pickle under it
            bucket.reset()

    def dump_bytecode(self, bucket: Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:  # a full disk, a read-only folder: compiled again next time
            return


def bytecode_cache(environment: Environment) -> FileSystemBytecodeCache | None:
    """The cache for `environment`'s templates, or None (cache off, folder not private, or
    the rule cache's folder not made: nothing is made outside it)."""
    from eqlwatch.rules import cache

    database = cache.database()
    if database is None or not database.parent.is_dir():
        return None
    kind = type(environment).__qualname__
    folder = database.parent / f"templates-{kind}-jinja{jinja2.__version__}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
    except OSError:
        return None
    if not all(private(p) for p in (database.parent.parent, database.parent, folder)):
        return None
    return _Tolerant(str(folder))
