"""Optional build step: compile the alert pipeline's hot modules with mypyc.

The modules stay plain, typed Python: the source of truth, and what an editable checkout
and `uv run` import. For a regular wheel with this hook turned on, mypyc compiles the
modules in `COMPILED` to extension modules that the wheel carries beside the `.py` files
(the import system prefers them). Off by default, so a checkout needs no C compiler;
`HATCH_BUILD_HOOK_ENABLE_CUSTOM=1` turns it on (scripts/compiled-env and the Dockerfile do).
Editable builds are never compiled: an extension module left in `src/` would shadow later
edits of its source. `eqlwatch.compiled` lists the same modules and tells, at run time,
which ones are compiled.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

# The pure modules the alert pipeline spends its time in (bench/alert_pipeline.py).
COMPILED = (
    "src/eqlwatch/alerts.py",
    "src/eqlwatch/digest.py",
    "src/eqlwatch/enrich/table.py",
    "src/eqlwatch/enrich/walker.py",
    "src/eqlwatch/hitfacts.py",
    "src/eqlwatch/notes/facts.py",
    "src/eqlwatch/notes/render.py",
    "src/eqlwatch/pipeline/alerting.py",
)

# Run in a child process: mypyc builds through setuptools, whose `setup()` wants a command line.
_SETUP = """\
import sys
from mypyc.build import mypycify
from setuptools import setup

modules = sys.argv.pop(1).split(",")
setup(name="eqlwatch-mypyc", ext_modules=mypycify(modules, opt_level="3", group_name="eqlwatch"))
"""
# `uv run mypy` is the type check of record. The build env gets the newest runtime
# dependencies the ranges allow, so a `type: ignore` they make unneeded must not fail it.
_MYPY_FLAGS = ("--no-warn-unused-ignores",)


class CustomBuildHook(BuildHookInterface):  # type: ignore[misc]
    """Compiles `COMPILED` in a temporary folder and adds the results to the wheel."""

    _workdir: Path | None = None

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version != "standard":
            return
        self._workdir = work = Path(tempfile.mkdtemp(prefix="eqlwatch-mypyc-"))
        (work / "setup.py").write_text(_SETUP, encoding="utf-8")
        lib, temp = work / "lib", work / "tmp"
        command = [sys.executable, str(work / "setup.py"), ",".join(COMPILED + _MYPY_FLAGS)]
        command.append("build_ext")
        command += ["--build-lib", str(lib), "--build-temp", str(temp)]
        # The command is this interpreter, a file written above and constant arguments.
        done = subprocess.run(  # noqa: S603
            command, cwd=self.root, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"mypyc could not compile {', '.join(COMPILED)} (a C compiler and the Python"
                f" headers are needed; unset HATCH_BUILD_HOOK_ENABLE_CUSTOM to build without):"
                f"\n{done.stdout}\n{done.stderr}"
            )
        built = [p for p in sorted(lib.rglob("*")) if p.suffix in (".so", ".pyd")]
        if len(built) <= len(COMPILED):  # one per module, plus mypyc's shared library
            raise RuntimeError(f"mypyc built {len(built)} extension modules: {built}")
        for path in built:
            build_data["force_include"][str(path)] = path.relative_to(lib).as_posix()
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
