"""`eqlwatch query` reads what `hunt` reads: folders, raw Windows exports, EVTX, globs."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from eqlwatch.cli.app import app

RUNNER = CliRunner()
EVTX = "evtx-attack-samples/evtx/Execution/exec_sysmon_lobin_regsvr32_sct.evtx"


def _sysmon_process(record_id: int, image: str) -> dict[str, Any]:
    """A Sysmon process start as evtx-rs writes it (values made up for the test)."""
    return {
        "System": {
            "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
            "EventID": 1,
            "TimeCreated": {"#attributes": {"SystemTime": f"2026-01-01T00:00:0{record_id}Z"}},
            "EventRecordID": record_id,
            "Channel": "Microsoft-Windows-Sysmon/Operational",
            "Computer": "ws1",
        },
        "EventData": {
            "Image": image,
            "CommandLine": image.rsplit("\\", 1)[-1] + " /s",
            "ProcessId": 100 + record_id,
            "ProcessGuid": f"00000000-0000-0000-0000-00000000000{record_id}",
        },
    }


def _query(*args: str) -> tuple[int, dict[str, Any] | None, str]:
    result = RUNNER.invoke(app, ["query", *args])
    body = json.loads(result.stdout) if result.exit_code == 0 else None
    return result.exit_code, body, result.stderr


def test_folder_of_mixed_formats_is_read_recursively(tmp_path: Path) -> None:
    root = tmp_path / "exports"
    (root / "sysmon").mkdir(parents=True)
    raw = [_sysmon_process(1, "C:\\Windows\\System32\\regsvr32.exe")]
    raw.append(_sysmon_process(2, "C:\\Windows\\System32\\notepad.exe"))
    (root / "sysmon" / "host1.json").write_text("".join(json.dumps(r) + "\n" for r in raw))
    ecs = {"@timestamp": "2026-01-01T00:00:05Z", "event": {"category": ["process"]}}
    ecs["process"] = {"name": "regsvr32.exe"}
    with gzip.open(root / "endpoint.ndjson.gz", "wt") as out:
        out.write(json.dumps(ecs) + "\n")
    (root / "notes.txt").write_text("not an event file\n")  # ignored, as hunt ignores it
    code, body, stderr = _query(
        'process where process.name : "regsvr32.exe"', "--events", str(root)
    )
    assert code == 0, stderr
    assert body is not None
    events = body["hits"]["events"]
    assert [e["_index"] for e in events] == ["logs-windows.sysmon_operational-default", "endpoint"]
    # The raw record went through the Sysmon normaliser: ECS fields, not EventData.
    assert events[0]["_source"]["process"]["pid"] == 101
    assert stderr == ""


def test_glob_pattern(tmp_path: Path) -> None:
    for n in (1, 2):
        doc = {"@timestamp": f"2026-01-01T00:00:0{n}Z", "event": {"category": "process"}}
        (tmp_path / f"part{n}.ndjson").write_text(json.dumps(doc) + "\n")
    code, body, stderr = _query("process where true", "--events", str(tmp_path / "part*.ndjson"))
    assert code == 0, stderr
    assert body is not None
    assert [e["_index"] for e in body["hits"]["events"]] == ["part1", "part2"]


def test_plain_json_documents_are_still_documents(tmp_path: Path) -> None:
    """A file that is no Windows export (no ECS event.category either) is read as JSON
    documents, as Elasticsearch would index them; hunt's detection does not drop it."""
    path = tmp_path / "custom.ndjson"
    path.write_text('{"@timestamp": 1, "event_type": "process", "x": 1}\n{oops\n')
    args = ["process where true", "--events", str(path), "--event-category-field", "event_type"]
    code, body, stderr = _query(*args)
    assert code == 0, stderr
    assert body is not None
    assert body["hits"]["total"]["value"] == 1
    assert f"{path}:2:" in stderr
    assert "1 malformed line(s) skipped" in stderr


def test_evtx_file_is_read_as_evtx(tmp_path: Path, data_dir: Path) -> None:
    evtx = tmp_path / "capture.evtx"
    shutil.copy(data_dir / EVTX, evtx)
    query = 'process where process.name : "regsvr32.exe" and process.args : "/i:*"'
    code, body, stderr = _query(query, "--events", str(tmp_path))
    assert code == 0, stderr
    assert body is not None
    (event,) = body["hits"]["events"]
    assert event["_index"] == "logs-windows.sysmon_operational-default"
    assert "pastebin" in event["_source"]["process"]["command_line"]
    assert "malformed" not in stderr


def test_input_format_forces_a_reader(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text(json.dumps(_sysmon_process(1, "C:\\Windows\\System32\\regsvr32.exe")) + "\n")
    as_documents = ["--input-format", "ecs", "--timestamp-field", "System.EventRecordID"]
    code, body, stderr = _query("any where true", "--events", str(path), *as_documents)
    assert code == 0, stderr
    assert body is not None
    (event,) = body["hits"]["events"]
    assert "EventData" in event["_source"]  # read as a plain document, not normalised
    code, _, stderr = _query("any where true", "--events", str(path), "--input-format", "xml")
    assert code == 2
    assert "--input-format" in stderr


def test_a_path_naming_nothing_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for missing, message in (
        (tmp_path / "nope.ndjson", "no such file"),
        (empty, "no event file in this folder"),
        (tmp_path / "none-*.ndjson", "no such file"),
    ):
        code, _, stderr = _query("any where true", "--events", str(missing))
        assert code == 2, missing
        assert str(missing) in stderr
        assert message in stderr


def test_per_file_mapping_refuses_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "a.ndjson").write_text('{"@timestamp": 1, "event": {"category": "process"}}\n')
    other = tmp_path / "b.ndjson"
    other.write_text('{"@timestamp": 2, "event": {"category": "process"}}\n')
    mapping = tmp_path / "m.json"
    mapping.write_text(json.dumps({"properties": {"x": {"type": "keyword"}}}))
    args = ["any where true", "--events", str(folder), "--events", str(other)]
    code, _, stderr = _query(*args, "--mapping", str(mapping), "--mapping", str(mapping))
    assert code == 2
    assert f"{folder} is a folder" in stderr
