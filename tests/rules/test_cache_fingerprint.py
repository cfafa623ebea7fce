"""The rule cache's fingerprint follows the installed versions of what a cached value
depends on, read from the metadata folders' names rather than through importlib.metadata."""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

import pytest

from eqlwatch.rules import cache


@pytest.mark.parametrize("dist", cache.DEPENDENCIES)
def test_installed_names_the_version_importlib_metadata_reports(dist: str) -> None:
    try:
        version = metadata.version(dist)
    except metadata.PackageNotFoundError:
        assert cache.installed(dist) == []
        return
    assert any(f"-{version}." in name for name in cache.installed(dist)), cache.installed(dist)


def test_another_installed_version_changes_the_fingerprint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache.fingerprint.cache_clear()
    before = cache.fingerprint()
    for name in ("Lark-99.0.0.dist-info", "pydantic_core-0.0.1.dist-info", "unrelated-1.dist-info"):
        (tmp_path / name).mkdir()
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    assert cache.installed("lark")[0] == "Lark-99.0.0.dist-info"  # names are normalised
    assert "pydantic_core-0.0.1.dist-info" in cache.installed("pydantic-core")
    cache.fingerprint.cache_clear()
    try:
        assert cache.fingerprint() != before
        monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(tmp_path)])
        (tmp_path / "unrelated-1.dist-info").rmdir()
        cache.fingerprint.cache_clear()
        assert cache.fingerprint() == before
    finally:
        cache.fingerprint.cache_clear()
