"""`hunt` applies a rule's suppression as `run` does: on the demo data, the alerts `hunt
--format ndjson` prints are the alerts `run --once` leaves (same ids, same
`kibana.alert.suppression`), one per bucket where the rule without it gives one per match."""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from eqlwatch.backends.local_sink import current_documents
from eqlwatch.cli.app import app
from eqlwatch.demo import write_demo_data

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
RULE = "87d3d992-ab19-4efe-a911-a9436ffa9465"  # queries/registration_utility_network_connection
SETTING = 'suppression = {{ group_by = ["host.name"], duration = "{duration}" }}\n'


def _project(root: Path, repo_root: Path, duration: str | None) -> Path:
    for name in ("queries", "templates", "jobs"):
        shutil.copytree(repo_root / name, root / name)
    write_demo_data(root / "data" / "demo", end=NOW - timedelta(minutes=1))
    if duration is not None:
        path = root / "queries" / "registration_utility_network_connection.toml"
        text = path.read_text().replace(
            "[eqlwatch]\n", "[eqlwatch]\n" + SETTING.format(duration=duration), 1
        )
        path.write_text(text)
    return root


def _hunt(project: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    monkeypatch.chdir(project)
    result = CliRunner().invoke(
        app, ["hunt", "--rules", "queries", "data/demo", "--format", "ndjson", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    lines = [x for x in result.stdout.splitlines() if x.startswith("{")]
    docs = [orjson.loads(x) for x in lines]
    out = {d["eqlwatch"]["alert_id"]: d for d in docs}
    assert len(out) == len(docs)  # one line per alert: each bucket printed as it stands
    return out


def _run(project: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    monkeypatch.chdir(project)
    result = CliRunner().invoke(app, ["run", "--once", "--now", NOW.isoformat()])
    assert result.exit_code == 0, result.output
    lines = (project / "out" / "alerts.ndjson").read_bytes().splitlines()
    return current_documents(lines)


def _suppression(docs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        ident: (d.get("kibana") or {}).get("alert", {}).get("suppression")
        for ident, d in docs.items()
    }


@pytest.mark.parametrize("duration", ["1h", "10m"])
def test_hunt_suppresses_as_run_does(
    tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch, duration: str
) -> None:
    plain = _hunt(_project(tmp_path / "plain", repo_root, None), monkeypatch)
    project = _project(tmp_path / "suppressed", repo_root, duration)
    hunted = _hunt(project, monkeypatch)
    ran = _run(project, monkeypatch)
    assert set(hunted) == set(ran)
    assert _suppression(hunted) == _suppression(ran)
    mine = [d for d in hunted.values() if d["rule"]["id"] == RULE]
    matches = sum(1 for d in plain.values() if d["rule"]["id"] == RULE)
    counts = [d["kibana"]["alert"]["suppression"]["docs_count"] for d in mine]
    assert sum(counts) + len(mine) == matches  # every match is an alert or counted in one
    if duration == "1h":
        assert len(mine) < matches  # merged: the demo has hosts with two matches an hour
    # The other rules are as without suppression.
    others = Counter(d["rule"]["id"] for d in hunted.values() if d["rule"]["id"] != RULE)
    assert others == Counter(d["rule"]["id"] for d in plain.values() if d["rule"]["id"] != RULE)
