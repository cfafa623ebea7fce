"""Bounds on one note render: time and size, so no template can stall or exhaust the job.

A template is code written by whoever maintains the rules; a slip (`range` nested in
`range`) or a hostile line (`{{ 'a' * 10**9 }}`) must cost one alert its note, not the job
its run. Three guards, all in-process and without a thread per render:

- **Sizes checked before they are built.** Operators and filters that can make a value far
  bigger than their inputs (`*`, `**`, `%`, `+`, `~`, `center`, `format`, `join`,
  `replace`, `indent`, `batch`, `slice`, `str.format`, `str.center`...) refuse results
  over the output limit up front (`check_*` below, wired in by `eqlwatch.notes.env`).
  Anything else grows its input by a small factor at most.
- **Output counted while it streams.** The renderer reads `template.generate()` piece by
  piece and stops at the output limit.
- **A deadline for pure-Python loops.** One process-wide watchdog thread raises
  `RenderTimeout` asynchronously (`PyThreadState_SetAsyncExc`) in a thread whose render
  used up its CPU-time budget (its own thread's CPU clock, so load from elsewhere does not
  time out ordinary notes). The exception derives from `BaseException` so nothing in jinja's
  or the sandbox's `except Exception` paths can swallow it.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import math
import re
import string
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_TIMEOUT = 1.0  # seconds; notes normally render in well under a millisecond
DEFAULT_MAX_CHARS = 64 * 1024  # a note is read by a person in Kibana, not a data dump


@dataclass(frozen=True, slots=True)
class RenderLimits:
    """Per-render bounds: CPU seconds and characters (of the note and of any one value)."""

    timeout: float = DEFAULT_TIMEOUT
    max_chars: int = DEFAULT_MAX_CHARS


class TemplateLimitError(Exception):
    """A render went past a limit; the alert gets the fallback note."""


class TemplateTimeoutError(TemplateLimitError):
    """The render passed its deadline."""


class RenderTimeout(BaseException):  # raised asynchronously, like KeyboardInterrupt
    """Raised inside a render by the watchdog; turned into `TemplateLimitError` by `guarded`."""


# The same C function twice: once given an exception class, once given NULL (which clears
# an exception set but not yet raised).
_set_async_exc = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.py_object)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi)
)
_clear_async_exc = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi)
)


_REFIRE_S = 0.05  # a timeout swallowed somewhere (a gc callback) is raised again after this


class _GcWindow:
    """Whether a garbage collection (and so its Python callbacks) is running.

    An exception raised asynchronously inside a gc callback is swallowed there (reported
    as unraisable) instead of ending the render, so the watchdog waits while one runs. One
    callback first in `gc.callbacks` opens the window at "start"; one last closes it at
    "stop", so every other callback runs inside it.
    """

    def __init__(self) -> None:
        self.collecting = False

    def _open(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self.collecting = True

    def _close(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "stop":
            self.collecting = False

    def install(self) -> None:
        """Put the two callbacks first and last (cheap when they already are)."""
        callbacks = gc.callbacks
        if callbacks and callbacks[0] == self._open and callbacks[-1] == self._close:
            return
        with contextlib.suppress(ValueError):
            callbacks.remove(self._open)
        with contextlib.suppress(ValueError):
            callbacks.remove(self._close)
        callbacks.insert(0, self._open)
        callbacks.append(self._close)


def _cpu_clock(ident: int) -> Callable[[], float]:
    """The CPU time of thread `ident`: a render's budget is the CPU it uses, so a loaded
    machine (other processes, other threads) does not time out an ordinary note."""
    try:
        clock = time.pthread_getcpuclockid(ident)
    except (AttributeError, OSError):  # no per-thread CPU clocks here: wall time
        return time.monotonic
    return lambda: time.clock_gettime(clock)


class _Watchdog:
    """One daemon thread for the process: raises `RenderTimeout` in renders past budget.

    Each thread has at most one render armed, with a CPU-time budget on its own clock. CPU
    time never runs faster than wall time, so the watchdog sleeps for the budget left and
    then looks again. Firing and disarming happen under one lock; disarming a render that
    was fired clears a still-pending exception, so a render that finished just in time
    never sees it later in unrelated code. A fired render stays armed: if the exception was
    swallowed, it is raised again shortly after.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())  # not re-entered: a plain lock
        self._armed: dict[int, tuple[Callable[[], float], float]] = {}
        self._fired: set[int] = set()
        self._thread: threading.Thread | None = None
        self._wake_at = math.inf  # when the watchdog looks next (it wakes for earlier ones)
        self._gc = _GcWindow()

    def arm(self, seconds: float) -> None:
        ident = threading.get_ident()
        clock = _cpu_clock(ident)
        budget_end = clock() + seconds
        self._gc.install()
        with self._cond:
            self._fired.discard(ident)
            self._armed[ident] = (clock, budget_end)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="eqlwatch-note-watchdog", daemon=True
                )
                self._thread.start()
            wake = time.monotonic() + seconds
            if wake < self._wake_at:  # else it wakes in time anyway: no thread switch
                self._cond.notify()

    def disarm(self) -> None:
        ident = threading.get_ident()
        with self._cond:
            self._armed.pop(ident, None)
            if ident in self._fired:
                self._fired.discard(ident)
                _clear_async_exc(ident, None)

    def _run(self) -> None:
        with self._cond:
            while True:
                if not self._armed:
                    self._wake_at = math.inf
                    self._cond.wait()
                    continue
                now = time.monotonic()
                soonest = math.inf
                for ident, (clock, budget_end) in list(self._armed.items()):
                    try:
                        left = budget_end - clock()
                    except OSError:  # the thread is gone without disarming
                        del self._armed[ident]
                        continue
                    if left <= 0 and not self._gc.collecting:
                        self._fired.add(ident)
                        _set_async_exc(ident, RenderTimeout)
                        left = _REFIRE_S
                    soonest = min(soonest, now + max(left, _REFIRE_S / 5))
                self._wake_at = soonest
                if soonest < math.inf:
                    self._cond.wait(soonest - now)


_WATCHDOG = _Watchdog()


def guarded(limits: RenderLimits, what: str, work: Callable[[], T]) -> T:
    """`work()` under the deadline; past it, `TemplateLimitError` naming `what`."""
    message = f"{what}: took longer than the {limits.timeout:g} s limit"
    try:
        _WATCHDOG.arm(limits.timeout)
        try:
            return work()
        finally:
            _WATCHDOG.disarm()
    except RenderTimeout:
        _WATCHDOG.disarm()  # idempotent: when the timeout landed inside the first disarm
        raise TemplateTimeoutError(message) from None


_BATCH = 256  # output pieces read between two size checks


def collect(pieces: Iterable[str], limits: RenderLimits, what: str) -> str:
    """The rendered text, stopping as soon as it passes the output limit.

    Time is the watchdog's job (`guarded`): a clock read per piece would cost more than
    the pieces of a small note.
    """
    out: list[str] = []
    size = 0
    iterator = iter(pieces)
    while batch := list(islice(iterator, _BATCH)):  # counted in C, a batch at a time
        size += sum(map(len, batch))
        if size > limits.max_chars:
            limit = limits.max_chars
            raise TemplateLimitError(f"{what}: note longer than the {limit:,} chars limit")
        out += batch
    return "".join(out)


# --- sizes checked before a value is built -------------------------------------------------


def too_big(size: float, limit: int) -> None:
    if size > limit:
        raise TemplateLimitError(f"a value of {size:,.0f} chars/items, over the {limit:,} limit")


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | bytes | list | tuple) else 0


def check_binop(operator: str, left: Any, right: Any, limit: int) -> None:
    """Refuse `*`, `**`, `+` and `%` whose result would pass `limit` (chars, items or bits)."""
    if operator == "*":
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, str | bytes | list | tuple) and isinstance(count, int):
                too_big(len(seq) * max(count, 0), limit)
        if isinstance(left, int) and isinstance(right, int):
            too_big((left.bit_length() + right.bit_length()) / 4, limit)  # ~hex digits
    elif operator == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0:
            too_big(max(left.bit_length(), 1) * right / 4, limit)
        elif isinstance(left, float | int) and isinstance(right, float | int):
            pass  # floats overflow to an error, they do not grow
    elif operator == "+":
        too_big(_size(left) + _size(right), limit)
    elif operator == "%" and isinstance(left, str):
        check_percent_format(left, right, limit)


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")


def _int_args(args: Any) -> Iterator[int]:
    values = args.values() if isinstance(args, dict) else args
    if not isinstance(values, Iterable) or isinstance(values, str | bytes):
        values = (values,)
    return (v for v in values if isinstance(v, int))


def check_percent_format(fmt: str, args: Any, limit: int) -> None:
    """`fmt % args`: refuse widths or precisions past `limit` (literal or `*`)."""
    too_big(len(fmt) + sum(_size(a) for a in _listed(args)), limit)
    for width, precision in _PERCENT_SPEC.findall(fmt):
        for number in (width, precision):
            if number == "*":
                too_big(max(_int_args(args), default=0), limit)
            elif number:
                too_big(int(number), limit)


def _listed(args: Any) -> list[Any]:
    if isinstance(args, dict):
        return list(args.values())
    return list(args) if isinstance(args, tuple | list) else [args]


_FORMATTER = string.Formatter()


def check_str_format(fmt: str, args: Iterable[Any], kwargs: dict[str, Any], limit: int) -> None:
    """`fmt.format(...)`: refuse field widths past `limit`, literal or from an argument."""
    values = [*args, *kwargs.values()]
    too_big(len(fmt) + sum(_size(v) for v in values), limit)
    for _, _, spec, _ in _FORMATTER.parse(fmt):
        if not spec:
            continue
        if "{" in spec:  # width or precision given by an argument
            too_big(max((v for v in values if isinstance(v, int)), default=0), limit)
        for digits in re.findall(r"\d+", spec):
            too_big(int(digits), limit)


def check_width(text: Any, width: Any, limit: int) -> None:
    """`center`, `ljust`, `rjust`, `zfill`: the result is `max(len, width)` long."""
    if isinstance(width, int):
        too_big(width, limit)


def check_replace(text: Any, old: Any, new: Any, count: Any, limit: int) -> None:
    """`replace`: every occurrence of `old` may become `new`."""
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        hits = text.count(old) if old else len(text) + 1
        if isinstance(count, int) and count >= 0:
            hits = min(hits, count)
        too_big(len(text) + hits * max(len(new) - len(old), 0), limit)


def check_join(items: list[Any], sep: Any, limit: int) -> None:
    """`join`: the items' text plus a separator between each two."""
    sep_size = len(sep) if isinstance(sep, str) else 0
    try:
        text = sum(map(len, items))  # all strings (the usual case): counted in C
    except TypeError:
        text = sum(_size(i) or 1 for i in items)
    too_big(text + sep_size * max(len(items) - 1, 0), limit)


def check_indent(text: Any, width: Any, limit: int) -> None:
    """`indent`: each line gains `width` (chars, or the string given)."""
    if isinstance(text, str):
        lines = text.count("\n") + 1
        pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        too_big(len(text) + lines * max(pad, 0), limit)


def check_count(count: Any, limit: int) -> None:
    """`batch`/`slice` sizes and the like: a count of items or groups."""
    if isinstance(count, int | float) and math.isfinite(count):
        too_big(count, limit)


def check_expandtabs(text: str, size: Any, limit: int) -> None:
    if isinstance(size, int):
        too_big(len(text) + text.count("\t") * max(size, 0), limit)
