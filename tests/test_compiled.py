"""The optional mypyc build: one list of hot modules, one mypy, and the build asked for."""

from __future__ import annotations

import ast
import os
import tomllib
from pathlib import Path

from eqlwatch.compiled import HOT_MODULES, build_kind, compiled_modules


def _hook_modules(repo_root: Path) -> list[str]:
    tree = ast.parse((repo_root / "hatch_build.py").read_text("utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "COMPILED":
            paths = ast.literal_eval(node.value)
            return [p.removeprefix("src/").removesuffix(".py").replace("/", ".") for p in paths]
    raise AssertionError("hatch_build.py has no COMPILED")


def test_the_build_hook_compiles_exactly_the_hot_modules(repo_root: Path) -> None:
    assert sorted(_hook_modules(repo_root)) == sorted(HOT_MODULES)
    for name in HOT_MODULES:  # each is a real module of the package
        assert (repo_root / "src" / (name.replace(".", "/") + ".py")).is_file()


def test_the_build_compiles_with_the_locked_mypy(repo_root: Path) -> None:
    pyproject = tomllib.loads((repo_root / "pyproject.toml").read_text("utf-8"))
    hook = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["hooks"]["custom"]
    assert hook["enable-by-default"] is False  # a checkout needs no C compiler
    pinned = next(d for d in hook["dependencies"] if d.startswith("mypy=="))
    lock = tomllib.loads((repo_root / "uv.lock").read_text("utf-8"))
    locked = next(p["version"] for p in lock["package"] if p["name"] == "mypy")
    assert pinned == f"mypy=={locked}"


def test_this_run_uses_the_build_it_was_asked_for() -> None:
    """`uv run pytest` tests the Python sources; scripts/compiled-env (CI) the compiled ones."""
    expected = os.environ.get("EQLWATCH_EXPECT_BUILD", "python")
    assert build_kind() == expected
    kinds = {name: name in compiled_modules() for name in HOT_MODULES}
    assert all(kinds.values()) if expected == "compiled" else not any(kinds.values())
