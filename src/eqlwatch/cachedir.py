"""Where eqlwatch keeps what it can always compute again (parsed rules, grammar tables).

A light module of its own: the engine reads it at import, before any rule code is loaded.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "EQLWATCH_CACHE_DIR"
GRAMMARS = "grammars"  # parser tables (engine/grammar_cache.py); the rest: rule caches
HYPERSCAN = "hyperscan"  # compiled Hyperscan databases (engine/hsdb_cache.py)
KEPT = (GRAMMARS, HYPERSCAN)  # folders the rule cache leaves alone


def cache_root() -> Path | None:
    """The cache folder, or None when the cache is off (`EQLWATCH_CACHE_DIR=off`)."""
    configured = os.environ.get(ENV)
    if configured is not None:
        return None if configured.strip().lower() in ("", "off", "0", "no") else Path(configured)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "eqlwatch"


def private(path: Path) -> bool:
    """Pickles are only read from what the user owns and nobody else can write to (a path
    not made yet counts as private: it will be made so)."""
    try:
        info = path.stat()
    except OSError:
        return True
    getuid = getattr(os, "getuid", None)  # POSIX only; Windows has ACLs instead
    return not ((getuid is not None and info.st_uid != getuid()) or info.st_mode & 0o022)
