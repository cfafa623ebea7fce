"""eqlwatch: scheduled EQL detections for the Elastic stack, with an embedded engine."""

from typing import Any

__all__ = ["__version__"]


def __getattr__(name: str) -> Any:
    """`__version__` on first use: importlib.metadata costs more than all of `--help`."""
    if name != "__version__":
        raise AttributeError(f"module 'eqlwatch' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("eqlwatch")
    except PackageNotFoundError:  # pragma: no cover - a source tree without install
        found = "0.0.0"
    globals()["__version__"] = found
    return found
