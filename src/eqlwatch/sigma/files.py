"""What a Sigma rule file is, and its error: without importing pySigma.

Every command that loads rules asks whether a file is Sigma; only a Sigma file should pay
for pySigma's import (~70 ms of a `hunt` start-up, `python -X importtime`).
"""

from __future__ import annotations

from pathlib import Path

SIGMA_SUFFIXES = (".yml", ".yaml")


class SigmaConversionError(ValueError):
    """The Sigma file cannot be an eqlwatch rule; `field` names the part at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def is_sigma_file(path: str | Path) -> bool:
    return Path(path).suffix.lower() in SIGMA_SUFFIXES
