"""eql's own, context-keeping optimizer walk, with the rewrites `engine/parse.py` puts
right for Elasticsearch (literal sets, folding), so a test can hold the lean walk to the
walk it replaces without also holding it to eql's departures from Elasticsearch
(`test_literal_sets.py` holds those to the tree as written)."""

from __future__ import annotations

from typing import Any

import eql

from eqlwatch.engine import parse as parse_module

_OURS = {
    name: staticmethod(getattr(parse_module._Optimizer, name))
    for name, value in vars(parse_module._Optimizer).items()
    if name.startswith("_walk_") and isinstance(value, staticmethod)
}

Reference: Any = type("Reference", (eql.optimizer.Optimizer,), _OURS)


def reference_optimized(node: Any) -> Any:
    """`node` as eql's walk, with those rewrites, leaves it."""
    return Reference(recursive=True).walk(node)
