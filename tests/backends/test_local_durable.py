"""The local alerts file, state file and leases under damage, crashes and concurrency."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
import structlog

from eqlwatch.backends.local_sink import LocalFileSink
from eqlwatch.backends.local_state import LocalStateStore, Process, process_start
from eqlwatch.errors import DataError
from eqlwatch.model import Alert

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def _alerts(n: int, prefix: str = "a") -> list[Alert]:
    return [Alert(f"{prefix}{i}", "r", {"n": i}) for i in range(n)]


def _ids(path: Path) -> list[str]:
    ids = []
    for line in path.read_bytes().splitlines():
        try:
            ids.append(orjson.loads(line)["eqlwatch"]["alert_id"])
        except (orjson.JSONDecodeError, TypeError, KeyError):
            continue
    return ids


# --- the alerts file -------------------------------------------------------------------


@pytest.mark.parametrize("bad", [b"\n", b"{not json\n", b'{"no": "id"}\n', b"[1, 2]\n"])
def test_bad_line_mid_file_keeps_every_alert_after_it(tmp_path: Path, bad: bytes) -> None:
    path = tmp_path / "alerts.ndjson"
    LocalFileSink(path).write(_alerts(129))
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:9]) + bad + b"".join(lines[9:]))
    damaged = path.read_bytes()
    with structlog.testing.capture_logs() as logs:
        result = LocalFileSink(path).write([*_alerts(129), Alert("new", "r", {})])
    assert (result.created, result.existing) == (1, 129)
    assert path.read_bytes().startswith(damaged)  # the bad line and all after it stay
    assert _ids(path) == [f"a{i}" for i in range(129)] + ["new"]
    warnings = [entry for entry in logs if entry["log_level"] == "warning"]
    assert [w["lines"] for w in warnings] == [[10]]
    assert warnings[0]["path"] == str(path)


def test_torn_tail_is_cut_and_its_bytes_kept_aside(tmp_path: Path) -> None:
    path = tmp_path / "alerts.ndjson"
    LocalFileSink(path).write(_alerts(3))
    torn = b'{"eqlwatch": {"alert_id": "b"'
    with path.open("ab") as handle:
        handle.write(torn)  # crash mid-line
    result = LocalFileSink(path).write([Alert("a0", "r", {}), Alert("b", "r", {"x": 2})])
    assert (result.created, result.existing) == (1, 1)
    assert _ids(path) == ["a0", "a1", "a2", "b"]
    assert path.read_bytes().endswith(b"\n")
    assert (tmp_path / "alerts.ndjson.torn").read_bytes() == torn + b"\n"


def test_complete_alert_without_newline_keeps_its_place(tmp_path: Path) -> None:
    path = tmp_path / "alerts.ndjson"
    LocalFileSink(path).write(_alerts(2))
    path.write_bytes(path.read_bytes().rstrip(b"\n"))  # the newline never landed
    result = LocalFileSink(path).write([Alert("a1", "r", {}), Alert("c", "r", {})])
    assert (result.created, result.existing) == (1, 1)
    assert _ids(path) == ["a0", "a1", "c"]
    assert not (tmp_path / "alerts.ndjson.torn").exists()


def test_a_sink_sees_what_another_writer_appended_since(tmp_path: Path) -> None:
    path = tmp_path / "alerts.ndjson"
    first, second = LocalFileSink(path), LocalFileSink(path)
    first.write([Alert("x", "r", {})])
    second.write([Alert("y", "r", {})])  # another process appends after first has read
    result = first.write([Alert("y", "r", {}), Alert("z", "r", {})])
    assert (result.created, result.existing) == (1, 1)
    assert _ids(path) == ["x", "y", "z"]


def test_a_sink_rereads_a_file_rotated_under_it(tmp_path: Path) -> None:
    path = tmp_path / "alerts.ndjson"
    sink = LocalFileSink(path)
    sink.write(_alerts(3))
    path.rename(tmp_path / "alerts.ndjson.1")  # rotated away
    other = LocalFileSink(path)
    other.write([Alert("r0", "r", {"pad": "x" * 500}), Alert("r1", "r", {"pad": "x" * 500})])
    # The new file is larger than what `sink` read before: only its inode tells them apart.
    result = sink.write([Alert("r0", "r", {}), Alert("a0", "r", {})])
    assert (result.created, result.existing) == (1, 1)
    assert _ids(path) == ["r0", "r1", "a0"]


def _hammer(path: str, worker: int) -> None:
    sink = LocalFileSink(Path(path))
    for i in range(60):
        # Overlapping ids across workers: each id may be written by all four.
        sink.write([Alert(f"id{(i + worker * 7) % 80}", "r", {"w": worker, "pad": "x" * 3000})])


def test_concurrent_writer_processes_never_duplicate_or_tear(tmp_path: Path) -> None:
    path = tmp_path / "alerts.ndjson"
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_hammer, args=(str(path), w)) for w in range(4)]
    for proc in workers:
        proc.start()
    for proc in workers:
        proc.join(60)
        assert proc.exitcode == 0
    ids = _ids(path)
    assert len(ids) == len(set(ids)), "an alert was written twice"
    expected = {f"id{(i + w * 7) % 80}" for w in range(4) for i in range(60)}
    assert set(ids) == expected
    assert len(path.read_bytes().splitlines()) == len(ids)  # every line whole


# --- the state file ---------------------------------------------------------------------


def _damage(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def test_damaged_state_file_is_recovered_from_its_backup(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    store = LocalStateStore(path)
    store.set_checkpoint("j/r1", NOW)
    store.set_checkpoint("j/r2", NOW + timedelta(minutes=5))
    damaged = path.read_bytes()[:40]
    path.write_bytes(damaged)
    with structlog.testing.capture_logs() as logs:
        assert LocalStateStore(path).get_checkpoint("j/r1") == NOW
    assert LocalStateStore(path).get_checkpoint("j/r2") == NOW + timedelta(minutes=5)
    assert (tmp_path / "state.json.damaged").read_bytes() == damaged
    assert orjson.loads(path.read_bytes())["checkpoints"]["j/r1"] == NOW.isoformat()
    assert any("recovered from its backup" in e["event"] for e in logs)


def test_recovery_drops_the_backups_leases(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    store = LocalStateStore(path)
    lease = store.acquire_lease("j/r1", "earlier-run", NOW, 600)
    assert lease is not None
    store.set_checkpoint("j/r1", NOW)  # the backup now holds that run's lease
    store.release_lease(lease)  # a lease-only change: the backup keeps it
    _damage(path)
    # This process is alive: a lease kept from the backup would block the rule for 600 s.
    assert LocalStateStore(path).acquire_lease("j/r1", "next-run", NOW, 600) is not None
    assert LocalStateStore(path).get_checkpoint("j/r1") == NOW


def test_missing_state_file_with_a_backup_is_not_a_silent_reset(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    LocalStateStore(path).set_checkpoint("j/r1", NOW)
    path.unlink()
    assert LocalStateStore(path).get_checkpoint("j/r1") == NOW


def test_state_and_backup_both_damaged_is_an_error_naming_both(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    LocalStateStore(path).set_checkpoint("j/r1", NOW)
    _damage(path)
    _damage(tmp_path / "state.bak.json")
    with pytest.raises(DataError) as caught:
        LocalStateStore(path).get_checkpoint("j/r1")
    assert str(path) in str(caught.value)
    assert str(tmp_path / "state.bak.json") in str(caught.value)
    assert not (tmp_path / "state.json.damaged").exists()  # nothing moved on an error


def test_empty_state_file_without_backup_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(b"")
    with pytest.raises(DataError, match=str(path)):
        LocalStateStore(path).set_checkpoint("j/r1", NOW)
    assert path.read_bytes() == b""


def test_unreadable_checkpoint_value_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(orjson.dumps({"checkpoints": {"j/r1": "yesterday"}}))
    with pytest.raises(DataError, match=r"state.json \[checkpoints.j/r1\]"):
        LocalStateStore(path).get_checkpoint("j/r1")


def test_backup_is_never_ahead_of_the_state_file(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    store = LocalStateStore(path)
    for minutes in range(5):
        store.set_checkpoint("k", NOW + timedelta(minutes=minutes))
        assert path.read_bytes() == (tmp_path / "state.bak.json").read_bytes()


# --- leases -----------------------------------------------------------------------------


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _plant_lease(path: Path, key: str, process: Process, owner: str = "crashed") -> None:
    LocalStateStore(path, process=process).acquire_lease(key, owner, NOW, 600)


def test_lease_of_a_killed_process_is_taken_over_at_once(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    me = Process.current()
    _plant_lease(path, "j/r1", Process(me.host, _dead_pid(), None))
    lease = LocalStateStore(path).acquire_lease("j/r1", "me", NOW + timedelta(seconds=1), 600)
    assert lease is not None
    assert lease.owner == "me"
    held = orjson.loads(path.read_bytes())["leases"]["j/r1"]
    assert (held["owner"], held["pid"], held["host"]) == ("me", os.getpid(), me.host)
    assert held["started"] == (NOW + timedelta(seconds=1)).isoformat()


def test_lease_of_a_live_process_holds_until_it_dies(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        host = Process.current().host
        _plant_lease(path, "j/r1", Process(host, sleeper.pid, process_start(sleeper.pid)))
        store = LocalStateStore(path)
        assert store.acquire_lease("j/r1", "me", NOW, 600) is None
        holder = store.holder("j/r1")
        assert holder is not None
        assert f"pid {sleeper.pid}" in holder
        assert "crashed" in holder
        sleeper.send_signal(signal.SIGKILL)
        sleeper.wait()
        assert store.acquire_lease("j/r1", "me", NOW, 600) is not None
    finally:
        sleeper.kill()
        sleeper.wait()


def test_unreaped_zombie_does_not_hold_a_lease(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        for _ in range(500):  # until it has exited (a zombie: not reaped yet)
            if Path(f"/proc/{child.pid}/stat").read_text().split(")")[1].split()[0] == "Z":
                break
            time.sleep(0.01)
        else:
            raise AssertionError("child never exited")
        _plant_lease(path, "j/r1", Process(Process.current().host, child.pid, None))
        assert LocalStateStore(path).acquire_lease("j/r1", "me", NOW, 600) is not None
    finally:
        child.wait()


def test_reused_pid_does_not_hold_a_lease(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    me = Process.current()
    assert me.start is not None
    _plant_lease(path, "j/r1", Process(me.host, me.pid, me.start - 1))  # same pid, older process
    assert LocalStateStore(path).acquire_lease("j/r1", "me", NOW, 600) is not None
    # The same live process under another owner (another replica in this process) holds.
    _plant_lease(path, "j/r2", me, owner="other")
    assert LocalStateStore(path).acquire_lease("j/r2", "me", NOW, 600) is None


def test_lease_from_another_host_holds_until_it_expires(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    _plant_lease(path, "j/r1", Process("elsewhere", _dead_pid(), None))
    store = LocalStateStore(path)
    assert store.acquire_lease("j/r1", "me", NOW + timedelta(seconds=599), 600) is None
    assert store.acquire_lease("j/r1", "me", NOW + timedelta(seconds=601), 600) is not None


def test_malformed_lease_record_is_replaced_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(orjson.dumps({"checkpoints": {}, "leases": {"j/r1": {"owner": 3}}}))
    assert LocalStateStore(path).acquire_lease("j/r1", "me", NOW, 600) is not None


@pytest.mark.parametrize(("ending", "left"), [("sys.exit(5)", False), ("os._exit(5)", True)])
def test_a_process_exiting_past_its_finally_releases_its_lease(
    tmp_path: Path, ending: str, left: bool
) -> None:
    path = tmp_path / "state.json"
    script = (
        "import os, sys\n"
        "from datetime import UTC, datetime\n"
        "from pathlib import Path\n"
        "from eqlwatch.backends.local_state import LocalStateStore\n"
        f"store = LocalStateStore(Path({str(path)!r}))\n"
        "assert store.acquire_lease('j/r1', 'me', datetime.now(UTC), 600)\n"
        f"{ending}\n"
    )
    assert subprocess.run([sys.executable, "-c", script], check=False).returncode == 5
    # os._exit skips interpreter exit, as SIGKILL does: only the pid check frees that one.
    assert bool(orjson.loads(path.read_bytes())["leases"]) is left


def test_release_removes_only_our_lease(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    store = LocalStateStore(path)
    lease = store.acquire_lease("j/r1", "me", NOW, 600)
    assert lease is not None
    store.release_lease(lease)
    assert orjson.loads(path.read_bytes())["leases"] == {}
    assert store.holder("j/r1") is None


# --- the demo data ----------------------------------------------------------------------

_READER = """
import json, sys, time
from datetime import datetime
from pathlib import Path
from eqlwatch.demo import ensure_demo_data
folder, now, delay = Path(sys.argv[1]), datetime.fromisoformat(sys.argv[2]), float(sys.argv[3])
time.sleep(delay)
ensure_demo_data(folder, now=now)
print(json.dumps({p.name: len(p.read_bytes().splitlines()) for p in folder.glob("*.ndjson")}))
"""


@pytest.mark.slow
def test_processes_racing_for_the_demo_data_each_see_all_of_it(tmp_path: Path) -> None:
    from eqlwatch.demo import generate

    data = generate(end=NOW - timedelta(minutes=1), seed=7, hours=0.8)
    expected = {f"{index}.ndjson": len(events) for index, events in data.indices.items()}
    for trial in range(2):
        folder = tmp_path / f"trial{trial}" / "demo"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _READER, str(folder), NOW.isoformat(), str(0.25 * i)],
                stdout=subprocess.PIPE,
            )
            for i in range(5)
        ]
        # The last line: structlog, unconfigured here, logs to stdout before it.
        seen = [orjson.loads(p.communicate(timeout=120)[0].splitlines()[-1]) for p in procs]
        assert all(proc.returncode == 0 for proc in procs)
        assert seen == [expected] * len(procs), f"trial {trial}"
