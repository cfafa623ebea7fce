"""Pattern matching on hostile values: the old `re` translation vs today's matchers.

The patterns run against 32,767-character command lines (Windows' maximum, attacker-
controlled), the last two (a rule's list of 22 wildcards) against ordinary short values.
"old" is the translation eqlwatch used before issue 9 (wildcards and Lucene regexes handed
to Python's backtracking `re`), run in a child process killed after `--timeout` seconds;
"new" is `eqlwatch.engine.wildcard` (segment matcher for wildcards, Lucene syntax on RE2
for regexes). Times are µs per event (one value per event), best of `--repeat`.

Run by hand, never in CI:

    uv run python bench/match_bench.py --timeout 20 --repeat 5
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from eqlwatch.engine.wildcard import compile_regexes, compile_wildcards

LENGTH = 32_767


@dataclass(frozen=True)
class Case:
    """One operator and pattern against one value."""

    name: str
    kind: str  # "wildcard" or "regex"
    pattern: str | tuple[str, ...]
    insensitive: bool
    value: str
    expected: bool


def _fill(unit: str, tail: str = "") -> str:
    body = unit * (LENGTH // len(unit) + 1)
    return body[: LENGTH - len(tail)] + tail


APPDATA = _fill("C:\\Users\\bob\\AppData\\Local\\Temp\\")
CASES = [
    Case(": *\\AppData\\*\\*.exe", "wildcard", "*\\AppData\\*\\*.exe", True, APPDATA, False),
    Case(
        ": *\\AppData\\*\\*.exe (hit)",
        "wildcard",
        "*\\AppData\\*\\*.exe",
        True,
        _fill("C:\\Users\\bob\\AppData\\Local\\Temp\\", "x\\evil.exe"),
        True,
    ),
    Case(": *a*a*a*a*a*a*a*a*b", "wildcard", "*a*a*a*a*a*a*a*a*b", True, "a" * LENGTH, False),
    Case("like *a?a*a?a*b", "wildcard", "*a?a*a?a*b", False, "a" * LENGTH, False),
    Case(
        ": *powershell.exe* (plain)",
        "wildcard",
        "*powershell.exe*",
        True,
        _fill("x", "powershell.exe"),
        True,
    ),
    Case("regex .*(a+)+b", "regex", ".*(a+)+b", False, "a" * LENGTH, False),
    Case("regex~ .*(a+)+b", "regex", ".*(a+)+b", True, "a" * LENGTH, False),
    Case(
        "regex .*?net1[ ]+localgroup.*?",
        "regex",
        ".*?net1[ ]+localgroup.*?",
        False,
        _fill("x", "net1 " * ((LENGTH - 10) // 5) + "localgroup"),
        True,
    ),
    Case("regex (a\\|aa)*c", "regex", "(a|aa)*c", False, "a" * LENGTH, False),
]
assert all(len(c.value) == LENGTH for c in CASES)
# A typical rule's `in`-list of wildcards on a typical value: no slower than before.
TOOLS = (*(f"*\\tool{i}.exe" for i in range(20)), "*rundll32*", "c:\\windows\\*\\x?.dll")
CASES += [
    Case(
        ": (22 wildcards), 56 chars",
        "wildcard",
        TOOLS,
        True,
        "C:\\Windows\\System32\\svchost.exe -k netsvcs -p -s Schedule",
        False,
    ),
    Case(
        "like (22 wildcards), 38 chars",
        "wildcard",
        TOOLS,
        False,
        "C:\\Users\\bob\\AppData\\Local\\tool7.exe",
        True,
    ),
]


def _patterns(case: Case) -> list[str]:
    return [case.pattern] if isinstance(case.pattern, str) else list(case.pattern)


def _glob(pattern: str) -> str:
    return "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)


def _old(case: Case) -> Callable[[str], bool]:
    """The pre-issue-9 translation: fullmatch on Python's backtracking `re`."""
    if case.kind == "wildcard":
        pats = [p.lower() if case.insensitive else p for p in _patterns(case)]
        rx = re.compile("|".join(f"(?:{_glob(p)})" for p in pats), re.DOTALL)
        if case.insensitive:
            return lambda s: rx.fullmatch(s.lower()) is not None
        return lambda s: rx.fullmatch(s) is not None
    flags = re.DOTALL | (re.IGNORECASE if case.insensitive else 0)
    rx2 = re.compile("|".join(f"(?:{p})" for p in _patterns(case)), flags)
    return lambda s: rx2.fullmatch(s) is not None


def _new(case: Case) -> Callable[[str], bool]:
    if case.kind == "wildcard":
        return compile_wildcards(_patterns(case), case.insensitive)
    return compile_regexes(_patterns(case), case.insensitive)


def _time(match: Callable[[str], bool], value: str, repeat: int) -> tuple[float, bool]:
    """Best µs per call over `repeat` rounds (each round long enough to time)."""
    result = match(value)
    best = float("inf")
    for _ in range(repeat):
        n, start = 0, time.perf_counter()
        while True:
            match(value)
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed > 0.05:
                break
        best = min(best, elapsed / n * 1e6)
    return best, result


def _old_child(index: int, repeat: int, out: mp.Queue[tuple[float, bool]]) -> None:
    case = CASES[index]
    out.put(_time(_old(case), case.value, repeat))


def _run_old(index: int, repeat: int, timeout: float) -> str:
    ctx = mp.get_context("fork")
    out: mp.Queue[tuple[float, bool]] = ctx.Queue()
    proc = ctx.Process(target=_old_child, args=(index, repeat, out))
    proc.start()
    proc.join(timeout)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return f"> {timeout:g} s (killed)"
    us, result = out.get()
    mark = "" if result is CASES[index].expected else " WRONG"
    return f"{us:,.1f}{mark}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per old run")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"hostile values {LENGTH:,} characters; µs per event, best of {args.repeat}")
    print(f"| {'pattern':<34} | {'old (re)':>22} | {'new':>10} | result |")
    print(f"|{'-' * 36}|{'-' * 24}|{'-' * 12}|--------|")
    for i, case in enumerate(CASES):
        new_us, got = _time(_new(case), case.value, args.repeat)
        assert got is case.expected, (case.name, got)
        old = _run_old(i, args.repeat, args.timeout)
        print(f"| {case.name:<34} | {old:>22} | {new_us:>10,.1f} | {got!s:<6} |", flush=True)


if __name__ == "__main__":
    main()
