"""The daemon's promises: triggers, no overlap, and SIGTERM finishing the window in flight."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from eqlwatch.scheduler import ScheduledJob, build_scheduler


def test_job_defaults_coalesce_and_never_overlap() -> None:
    job = ScheduledJob("j", run=lambda now: None, interval=timedelta(minutes=5))
    scheduler = build_scheduler([job], misfire_grace_s=120, run_at_start=False)
    thread = threading.Thread(target=scheduler.start, kwargs={"paused": True}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not scheduler.running:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    (added,) = scheduler.get_jobs()
    scheduler.shutdown(wait=True)
    thread.join(timeout=10)
    assert added.coalesce is True
    assert added.max_instances == 1
    assert added.misfire_grace_time == 120


def test_cron_and_interval_triggers() -> None:
    assert "cron" in str(ScheduledJob("c", run=print, cron="*/5 * * * *").trigger())
    assert "interval" in str(ScheduledJob("i", run=print, interval=timedelta(seconds=30)).trigger())
    with pytest.raises(ValueError, match="neither cron nor interval"):
        ScheduledJob("x", run=print).trigger()


def test_sigterm_lets_the_window_in_flight_finish(tmp_path: Path) -> None:
    marker = tmp_path / "log.txt"
    script = textwrap.dedent(
        f"""
        import time
        from datetime import timedelta
        from pathlib import Path
        from eqlwatch.scheduler import ScheduledJob, StopFlag, build_scheduler, run_forever
        log = Path({str(marker)!r})
        stop = StopFlag()
        def run(now):
            for window in range(100):
                log.open("a").write(f"start {{window}}\\n")
                time.sleep(0.3)
                log.open("a").write(f"saved {{window}}\\n")
                if stop():
                    return
        job = ScheduledJob("j", run=run, interval=timedelta(hours=1))
        run_forever(build_scheduler([job]), stop)
        log.open("a").write("exited\\n")
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 20
    while not (marker.exists() and "saved 0" in marker.read_text()):
        assert time.monotonic() < deadline, "job never started"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGTERM)  # a second signal must not break the shutdown
    assert proc.wait(timeout=20) == 0
    lines = marker.read_text().split()
    starts = lines.count("start")
    saves = lines.count("saved")
    assert starts == saves, f"a window was cut short: {marker.read_text()}"
    assert lines[-1] == "exited"
    assert starts < 100
