"""Fixtures shared by every test package."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """`../shared/` beside the checkout: read-only seeds, conformance specs and datasets."""
    if not SHARED_DIR.is_dir():
        raise RuntimeError(f"expected the shared folder at {SHARED_DIR}")
    return SHARED_DIR


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(autouse=True, scope="session")
def _quiet_logs() -> None:
    """Tests log at WARNING as JSON to stderr; tests that check logs configure their own."""
    from eqlwatch.logs import configure

    configure(json=True, level="WARNING")
