"""The `needs_shared` rule of tests/conftest.py, run by pytest itself in a throwaway tree.

A clone with no ../shared beside it must skip exactly the tests over data eqlwatch may not
ship, naming the missing folder; CI (EQLWATCH_REQUIRE_SHARED=1) must refuse to skip them;
with the folder present nothing skips. .ci/run checks the real tree the same way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REQUIRE_SHARED

TESTS = """
import pytest

def test_plain():
    pass

def test_by_fixture(ground_truth_dir):
    assert ground_truth_dir.is_dir()

def test_by_shared_dir(shared_dir):
    assert shared_dir.is_dir()

@pytest.mark.needs_shared
@pytest.mark.parametrize("pair", [])
def test_marked_with_no_parameters(pair):
    pass
"""

PYPROJECT = """
[tool.pytest.ini_options]
addopts = ["-rs", "--strict-markers", "-p", "no:cacheprovider", "-p", "no:hypothesispytest"]
markers = ["needs_shared: reads ../shared"]
"""


@pytest.fixture
def tree(tmp_path: Path, repo_root: Path) -> Path:
    """`tmp/x` holding the real tests/conftest.py and a few tests; no `tmp/shared`."""
    root = tmp_path / "x"
    (root / "tests").mkdir(parents=True)
    shutil.copy(repo_root / "tests" / "conftest.py", root / "tests" / "conftest.py")
    (root / "tests" / "test_some.py").write_text(TESTS, encoding="utf-8")
    (root / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    return root


def _pytest(root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != REQUIRE_SHARED} | env
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q"],
        cwd=root,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_without_shared_exactly_the_marked_tests_skip_naming_the_folder(tree: Path) -> None:
    result = _pytest(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    folder = tree.parent / "shared" / "datasets" / "ecs-ground-truth"
    skipped = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skipped) == 3, result.stdout
    assert all(f"{folder} is absent" in line for line in skipped), skipped
    assert "1 passed, 3 skipped" in result.stdout


def test_ci_refuses_to_skip_them(tree: Path) -> None:
    result = _pytest(tree, **{REQUIRE_SHARED: "1"})
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    assert f"{REQUIRE_SHARED}=1 but {tree.parent / 'shared'}" in result.stderr


def test_with_shared_nothing_skips(tree: Path) -> None:
    (tree.parent / "shared" / "datasets" / "ecs-ground-truth").mkdir(parents=True)
    result = _pytest(tree, **{REQUIRE_SHARED: "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    # The empty parameter set still skips, by pytest's own rule, not for want of data.
    assert "3 passed, 1 skipped" in result.stdout
    assert "is absent" not in result.stdout
