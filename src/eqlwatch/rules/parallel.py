"""A big rule folder read on every core: forked workers leave their rules in the rule cache.

Reading a rule afresh (TOML, model, parse, compile) is CPU work, a few milliseconds each,
and a thousand of them made a cold `validate` of detection-rules take seconds on one core
while the other idled. When many files are not in the cache yet, this process forks one
worker per other core; all of them take runs of files from one queue (a pipe), so a
process slowed by other work on its core takes fewer. A worker reads its files with the
loader's own code, so their rules, parses and compiles land in the cache in one
transaction, then exits. This process keeps what it read itself, waits for the workers,
and the caller's ordinary, ordered loop then finds the workers' files in the cache.
Nothing depends on a worker: one that fails or is killed leaves files that the caller
reads itself. Errors are never cached, so a broken
rule is reported by the caller, in file order, as without workers.

Only where forking is safe and pays: Linux (fork), a process with no other thread, a
usable cache (the workers' results travel through it), more than `MIN_FILES_PER_WORKER`
files per worker.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from eqlwatch.rules import cache

R = TypeVar("R")
MIN_FILES_PER_WORKER = 64
ENV = "EQLWATCH_RULE_WORKERS"  # a number of processes (1: none forked); default: the cores


def processes(files: int) -> int:
    """How many processes (this one included) should read `files` rule files afresh."""
    configured = os.environ.get(ENV, "").strip()
    if configured.isdigit() and int(configured) > 0:
        wanted = int(configured)
    else:
        try:
            wanted = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            wanted = os.cpu_count() or 1
    return max(1, min(wanted, files // MIN_FILES_PER_WORKER))


def _can_fork() -> bool:
    return (
        sys.platform == "linux"
        and hasattr(os, "fork")
        and threading.active_count() == 1  # a fork copies no other thread (and their locks)
        and cache.available()
    )


def load_shared(todo: Sequence[tuple[str, str]], load: Callable[[str, str], R]) -> dict[str, R]:
    """Load `todo` ((file, text) pairs) with `load` spread over forked workers.

    Returns the results of this process's part (files whose `load` raised are left out, for
    the caller to load and report); the other parts are in the cache when this returns.
    """
    count = processes(len(todo))
    if count < 2 or not _can_fork():
        return {}
    chunks = _chunks(len(todo))
    queue = _queue(len(chunks))
    cache.close()  # no SQLite connection may cross a fork; each side opens its own
    children: list[int] = []
    try:
        for _ in range(1, count):
            try:
                pid = os.fork()
            except OSError:  # out of processes or memory: fewer hands
                break
            if pid == 0:
                _work(queue, chunks, todo, load)
            children.append(pid)
        mine: dict[str, R] = {}
        for file, text in _claimed(queue, chunks, todo):
            try:
                mine[file] = load(file, text)
            except Exception:  # noqa: S112 - the caller loads it again and reports why
                continue
    finally:
        os.close(queue)
        for pid in children:
            os.waitpid(pid, 0)
    return mine


def _chunks(total: int) -> list[range]:
    """At most 255 runs of files (one byte names each in the queue), a few files each."""
    size = max(4, -(-total // 255))
    return [range(start, min(start + size, total)) for start in range(0, total, size)]


def _queue(count: int) -> int:
    """A pipe holding one byte per chunk (all written before any fork, its write end then
    closed): each process reads the next chunk's number, so a fast one takes more of them,
    and reading finds the end when they are all taken."""
    read, write = os.pipe()
    os.write(write, bytes(range(count)))
    os.close(write)
    return read


def _claimed(
    queue: int, chunks: list[range], todo: Sequence[tuple[str, str]]
) -> Iterator[tuple[str, str]]:
    while taken := os.read(queue, 1):
        for index in chunks[taken[0]]:
            yield todo[index]


def _work(
    queue: int,
    chunks: list[range],
    todo: Sequence[tuple[str, str]],
    load: Callable[[str, str], object],
) -> None:
    """A worker's whole life: read chunks into the cache until none is left, then exit."""
    code = 1
    try:
        for file, text in _claimed(queue, chunks, todo):
            try:
                load(file, text)
            except Exception:  # noqa: S112 - not cached: the parent reports it
                continue
        cache.flush()
        code = 0
    finally:
        os._exit(code)  # no atexit handlers, no buffered output of the parent's
