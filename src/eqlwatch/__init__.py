"""eqlwatch: scheduled EQL detections for the Elastic stack, with an embedded engine."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("eqlwatch")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["__version__"]
