"""Whole commands as users feel them: wall time, CPU and peak memory of each run.

Runs a command (and, with `--vs`, a second one, alternating so both see the same machine
load) `-n` times as a child process, start-up included, and prints the minimum, median and
maximum of wall seconds, CPU seconds (user + system of the child) and peak RSS (the child
is forked from this process, so its peak RSS is never below this bench's own, ~14 MB:
read small figures as "at most"). Output is
discarded; a run that exits non-zero or outlives `--timeout` stops the bench with its
stderr, since a timing of a failed command means nothing.

    uv run python bench/wall.py -n 10 -- .venv/bin/eqlwatch --help
    uv run python bench/wall.py -n 3 --vs ".venv/bin/python bench/eql_query.py filter F" \\
        -- .venv/bin/eqlwatch query "..." --events F --size 100000

Start-up numbers need a warm bytecode cache: unset PYTHONDONTWRITEBYTECODE first.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float
    rss_mb: float


def run_once(argv: list[str], timeout: float) -> Run:
    """One run; the child's own usage comes from wait4 (RUSAGE_CHILDREN would add up every
    child so far, and subprocess's own wait would reap it before we could read it)."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err,
                                stdin=subprocess.DEVNULL)  # fmt: skip
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        if wall >= timeout:
            sys.exit(f"timed out after {timeout:g} s: {shlex.join(argv)}")
        if code != 0:
            err.seek(0)
            sys.exit(f"exit {code}: {shlex.join(argv)}\n{err.read().decode(errors='replace')}")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def summary(name: str, runs: list[Run]) -> str:
    def three(values: list[float], unit: str, digits: int) -> str:
        low, mid, high = min(values), statistics.median(values), max(values)
        return f"{low:.{digits}f} / {mid:.{digits}f} / {high:.{digits}f} {unit}"

    return (
        f"{name}: wall {three([r.wall for r in runs], 's', 3)}, "
        f"cpu {three([r.cpu for r in runs], 's', 3)}, "
        f"max rss {three([r.rss_mb for r in runs], 'MB', 1)}  (min / median / max of {len(runs)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=5, help="runs of each command (default 5)")
    parser.add_argument("--vs", help="a second command (one shell-quoted string), run in turn")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per run")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ARGS...")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command or args.n < 1:
        parser.error("give a command after --, and -n of at least 1")
    other = shlex.split(args.vs) if args.vs else None
    mine: list[Run] = []
    theirs: list[Run] = []
    for _ in range(args.n):
        mine.append(run_once(command, args.timeout))
        if other is not None:
            theirs.append(run_once(other, args.timeout))
    print(summary("A", mine), f"\n   A = {shlex.join(command)}")
    if other is not None:
        print(summary("B", theirs), f"\n   B = {shlex.join(other)}")
        ratio = statistics.median(r.wall for r in theirs) / statistics.median(r.wall for r in mine)
        cpu = statistics.median(r.cpu for r in theirs) / statistics.median(r.cpu for r in mine)
        print(f"B / A medians: wall {ratio:.2f}x, cpu {cpu:.2f}x")


if __name__ == "__main__":
    main()
