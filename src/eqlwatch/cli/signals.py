"""SIGTERM ends a one-shot command the way Ctrl-C does: by unwinding, not by dying.

Python's default for SIGTERM kills the process on the spot, skipping every `finally`, so a
`run --once` or `backfill` stopped by cron, systemd or `docker stop` would leave its lease
behind. Raising SystemExit instead runs the runner's `finally`, which releases the lease;
files written so far stay consistent (the alerts file and the state file tolerate an
interrupted write). The daemon installs its own handler (finish the window, then stop).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

SIGTERM_EXIT = 128 + signal.SIGTERM  # what a shell reports for a process ended by SIGTERM


def _exit(signum: int, frame: FrameType | None) -> None:
    # Once is enough: a second SIGTERM (a process group, an impatient supervisor) must not
    # interrupt the `finally` blocks the first one started. SIGKILL still ends it.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise SystemExit(SIGTERM_EXIT)


def exit_on_sigterm() -> None:
    """From now on the first SIGTERM raises SystemExit(143) in the main thread.

    Outside the main thread (an embedding application) signals are not ours to set.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGTERM, _exit)
