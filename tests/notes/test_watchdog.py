"""The render watchdog counts CPU, survives a swallowed timeout, and never fires inside gc."""

from __future__ import annotations

import gc
import sys
import time
from typing import Any

import pytest

from eqlwatch.notes.limits import RenderLimits, RenderTimeout, TemplateTimeoutError, guarded


def _spin(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_waiting_is_not_working_a_render_is_timed_by_its_cpu() -> None:
    # 0.3 s asleep (a loaded machine gives the render no CPU) with a 0.1 s budget: no timeout.
    def nap() -> str:
        time.sleep(0.3)
        return "done"

    assert guarded(RenderLimits(timeout=0.1), "t", nap) == "done"
    with pytest.raises(TemplateTimeoutError, match=r"0\.1 s limit"):
        guarded(RenderLimits(timeout=0.1), "t", lambda: _spin(5.0))


def test_a_swallowed_timeout_is_raised_again() -> None:
    swallowed = []

    def stubborn() -> None:
        try:
            _spin(5.0)
        except RenderTimeout:
            swallowed.append(1)  # a careless `except BaseException` somewhere
        _spin(5.0)

    started = time.monotonic()
    with pytest.raises(TemplateTimeoutError):
        guarded(RenderLimits(timeout=0.1), "t", stubborn)
    assert swallowed == [1]
    assert time.monotonic() - started < 4


def test_the_timeout_never_lands_inside_a_gc_callback(monkeypatch: pytest.MonkeyPatch) -> None:
    unraisable: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)

    def slow_callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            _spin(0.3)  # longer than the whole budget: the deadline passes in here

    gc.callbacks.append(slow_callback)
    try:

        def work() -> None:
            gc.collect()
            _spin(5.0)

        with pytest.raises(TemplateTimeoutError):
            guarded(RenderLimits(timeout=0.1), "t", work)
    finally:
        gc.callbacks.remove(slow_callback)
    assert unraisable == []
