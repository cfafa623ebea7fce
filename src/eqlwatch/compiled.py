"""Which of the alert pipeline's hot modules run compiled in this installation.

A wheel built with the optional mypyc step (hatch_build.py, scripts/compiled-env, the
Docker image) carries extension modules for `HOT_MODULES`; a checkout runs them as the
Python they are written in. Same results either way (CI runs the tests on both); the
compiled build builds alerts faster (README, "Performance"). Benchmarks print which ran.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util

# Keep in step with COMPILED in hatch_build.py (tests/test_compiled.py checks).
HOT_MODULES = (
    "eqlwatch.alerts",
    "eqlwatch.digest",
    "eqlwatch.enrich.table",
    "eqlwatch.enrich.walker",
    "eqlwatch.hitfacts",
    "eqlwatch.notes.facts",
    "eqlwatch.notes.render",
    "eqlwatch.pipeline.alerting",
)


def compiled_modules() -> list[str]:
    """The hot modules that import as extension modules here."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    found = []
    for name in HOT_MODULES:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin is not None and spec.origin.endswith(suffixes):
            found.append(name)
    return found


def build_kind() -> str:
    """ "compiled", "python", or "partly compiled (...)" naming the compiled modules."""
    done = compiled_modules()
    if not done:
        return "python"
    if len(done) == len(HOT_MODULES):
        return "compiled"
    return f"partly compiled ({', '.join(done)})"
