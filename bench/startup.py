"""Where a command's start-up goes: `python -X importtime`, run several times, per module.

Runs `python -X importtime -m eqlwatch ARGS...` `-n` times (stdout discarded) and prints,
for each module, the smallest "self" import time seen (the run-to-run noise of a shared
machine only ever adds), the top modules by it, and the totals per top-level package.
Numbers include importtime's own overhead: compare them with each other, and whole-process
times with `wall.py`.

    unset PYTHONDONTWRITEBYTECODE
    uv run python bench/startup.py -n 7 -- hunt --rules queries --no-progress /tmp/one.ndjson
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections import defaultdict


def import_times(stderr: str) -> dict[str, int]:
    """Module -> self microseconds, from one run's `-X importtime` lines."""
    times: dict[str, int] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, name = line.removeprefix("import time:").split("|", 2)
        times[name.strip()] = int(self_us)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=7, help="runs (default 7)")
    parser.add_argument("--top", type=int, default=25, help="modules listed (default 25)")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="-- then eqlwatch's arguments")
    options = parser.parse_args()
    args = options.args[1:] if options.args[:1] == ["--"] else options.args
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        sys.exit("unset PYTHONDONTWRITEBYTECODE first: every run would compile every module")
    runs = []
    for _ in range(options.n):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "eqlwatch", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        runs.append(import_times(done.stderr))
    best = {m: min(run.get(m, sys.maxsize) for run in runs) for m in runs[0]}
    print(f"{len(best)} modules, self times summed: {sum(best.values()) / 1000:.1f} ms "
          f"(min of {options.n} runs each)")  # fmt: skip
    for module, us in sorted(best.items(), key=lambda kv: -kv[1])[: options.top]:
        print(f"{us / 1000:8.1f} ms  {module}")
    packages: dict[str, int] = defaultdict(int)
    for module, us in best.items():
        packages[module.split(".")[0]] += us
    print("per top-level package:")
    for package, us in sorted(packages.items(), key=lambda kv: -kv[1])[: options.top]:
        print(f"{us / 1000:8.1f} ms  {package}")


if __name__ == "__main__":
    main()
