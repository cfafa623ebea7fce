"""Big rule folders: `validate` over a whole folder, and how long `hunt` waits before events.

Needs a copy of Elastic's public detection-rules repository, which stays outside this one
(its rules are under the Elastic License 2.0); `RULES` is its `rules/` folder, or any other
folder of rules:

    uv run python bench/rules_bench.py --rules /tmp/dr/rules --hunt-rules /tmp/dr/rules/windows

(a) `validate`: `eqlwatch validate RULES` as a new process each time;
(b) `hunt`: `eqlwatch hunt --rules HUNT_RULES` over a file of one event, as a new process:
    the whole command is what it spends before its first event (loading, compiling and
    analysing the rules) plus one event;
(c) `split`: in this process, where a cold (a) goes for the EQL rules: TOML + model,
    parse, plan (in CPU seconds).

Each command runs `--repeat` times `cold` (an empty rule cache, `EQLWATCH_CACHE_DIR` set
to a new folder each run: every rule read and every query parsed) and `warm` (the cache
the first cold run left). Python's bytecode cache is warm for both (kept in a temporary
`PYTHONPYCACHEPREFIX`, whatever PYTHONDONTWRITEBYTECODE says), as for an installed
eqlwatch. A cold load of a big folder forks workers (`EQLWATCH_RULE_WORKERS`, passed
through from this environment; 1 for none); their CPU is counted in the child's. Best and
median wall seconds are printed, with the CPU seconds the child used
(steadier than wall time when the cores are shared) and the load average at the start.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EVENT = (
    b'{"@timestamp": "2026-01-01T00:00:00Z", "event": {"category": ["process"], '
    b'"type": ["start"]}, "process": {"name": "bench.exe", "command_line": "bench.exe"}, '
    b'"host": {"name": "bench"}}\n'
)


def timed(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, int, str]:
    """(wall s, child CPU s, exit code, last line of stdout+stderr) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = (done.stdout + done.stderr).strip().splitlines()
    return wall, cpu, done.returncode, lines[-1] if lines else ""


def report(name: str, args: list[str], cwd: Path, repeat: int, scratch: Path) -> None:
    """`repeat` cold runs (a new, empty rule cache each), then `repeat` warm ones."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(scratch / "pycache")
    cold = []
    for i in range(repeat):
        env["EQLWATCH_CACHE_DIR"] = str(scratch / f"{name}-cache-{i}")
        cold.append(timed(args, cwd, env))
    env["EQLWATCH_CACHE_DIR"] = str(scratch / f"{name}-cache-0")
    warm = [timed(args, cwd, env) for _ in range(repeat)]
    show(f"{name} cold", cold)
    show(f"{name} warm", warm)


def show(name: str, runs: list[tuple[float, float, int, str]]) -> None:
    walls = sorted(r[0] for r in runs)
    cpus = sorted(r[1] for r in runs)
    print(
        f"{name:13} wall best {walls[0]:6.2f} s  median {statistics.median(walls):6.2f} s  "
        f"cpu best {cpus[0]:6.2f} s  exit {runs[-1][2]}  | {runs[-1][3][:110]}"
    )


def eql_rule_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.toml") if 'type = "eql"' in p.read_text("utf-8"))


def split(root: Path) -> None:
    """CPU seconds of each loading step over the EQL rules under `root`, in this process."""
    from eqlwatch.engine.plan import Settings
    from eqlwatch.engine.query import CompiledQuery
    from eqlwatch.engine.schema import FieldSchema
    from eqlwatch.rules.compiled import clear_caches
    from eqlwatch.rules.loader import parse_rule

    os.environ["EQLWATCH_CACHE_DIR"] = "off"
    clear_caches()
    files = eql_rule_files(root)
    texts = [(str(p), p.read_text("utf-8")) for p in files]
    t0 = time.process_time()
    rules = [r for f, t in texts if (r := parse_rule(t, file=f)[0]) is not None]
    t1 = time.process_time()
    from eqlwatch.engine.parse import parse

    parsed = [parse(r.query) for r in rules]
    t2 = time.process_time()
    settings = Settings("@timestamp", None, "event.category")
    for p in parsed:
        CompiledQuery(p, FieldSchema(), settings, None, 1)
    t3 = time.process_time()
    print(
        f"split     {len(rules)} EQL rules: toml+model {t1 - t0:.2f} s, parse {t2 - t1:.2f} s, "
        f"plan {t3 - t2:.2f} s (CPU)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=Path, required=True, help="folder for validate")
    parser.add_argument("--hunt-rules", type=Path, help="folder for hunt (default: --rules)")
    parser.add_argument("--repeat", type=int, default=3)
    ns = parser.parse_args()
    root = Path(__file__).resolve().parents[1]
    exe = [sys.executable, "-m", "eqlwatch"]
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    hunt_rules = ns.hunt_rules or ns.rules
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        env = {**os.environ, "PYTHONPYCACHEPREFIX": str(scratch / "pycache")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["EQLWATCH_CACHE_DIR"] = "off"
        timed([*exe, "validate", str(root / "queries")], root, env)  # fills the bytecode cache
        print(f"{len(eql_rule_files(ns.rules))} EQL rule files under {ns.rules}")
        report("validate", [*exe, "validate", str(ns.rules)], root, ns.repeat, scratch)
        event = scratch / "one.ndjson"
        event.write_bytes(EVENT)
        args = [*exe, "hunt", "--rules", str(hunt_rules), "--no-progress", str(event)]
        print(f"{len(eql_rule_files(hunt_rules))} EQL rule files under {hunt_rules}")
        report("hunt", args, root, ns.repeat, scratch)
    split(ns.rules)


if __name__ == "__main__":
    main()
