"""The dashboard reads what eqlwatch writes: after `run --once` on the demo data (a rule
with suppression, an action whose target is down), every field a panel aggregates or
filters on is present in the documents of its data view, and mapped with a type that
aggregates; the notification report says what was sent, retried and given up."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from eqlwatch.backends.elasticsearch.resources import ALERT_MAPPINGS, RUN_MAPPINGS
from eqlwatch.backends.local_sink import current_documents
from eqlwatch.cli.app import app
from eqlwatch.demo import write_demo_data
from eqlwatch.kibana import saved_objects
from eqlwatch.kibana.objects import ALERTS_VIEW, RUNS_VIEW
from tests.actions.receiver import receiver

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
AGGREGATABLE = {"keyword", "long", "float", "double", "date", "ip", "boolean"}


def _get(document: Mapping[str, Any], path: str) -> Any:
    value: Any = document
    for part in path.split("."):
        if isinstance(value, list):
            value = [v.get(part) for v in value if isinstance(v, Mapping)]
            value = [v for v in value if v is not None] or None
        elif isinstance(value, Mapping):
            value = value.get(part)
        else:
            return None
    return value


def _mapped_type(mappings: Mapping[str, Any], path: str) -> str | None:
    node: Any = mappings
    for part in path.split("."):
        node = (node.get("properties") or {}).get(part)
        if node is None:
            return None
    return str(node.get("type", "object"))


@pytest.fixture(scope="module")
def written(
    tmp_path_factory: pytest.TempPathFactory, repo_root: Path
) -> dict[str, list[dict[str, Any]]]:
    project = tmp_path_factory.mktemp("dashboard")
    for name in ("queries", "templates", "jobs"):
        shutil.copytree(repo_root / name, project / name)
    write_demo_data(project / "data" / "demo", end=NOW - timedelta(minutes=1))
    rule = project / "queries" / "registration_utility_network_connection.toml"
    setting = 'suppression = { group_by = ["host.name"], duration = "1h" }\n'
    rule.write_text(rule.read_text().replace("[eqlwatch]\n", "[eqlwatch]\n" + setting, 1))
    with receiver() as dead:
        port = dead.port
    job = project / "jobs" / "default.toml"
    job.write_text(
        job.read_text() + "\n[[job.actions]]\n"
        f'name = "hook"\ntype = "webhook"\nurl = "http://127.0.0.1:{port}/hook"\n'
        "max_attempts = 1\n"
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(project)
        result = CliRunner().invoke(app, ["run", "--once", "--now", NOW.isoformat()])
    assert result.exit_code == 1, result.output  # messages given up: the run says so
    alerts = current_documents((project / "out" / "alerts.ndjson").read_bytes().splitlines())
    runs = [orjson.loads(x) for x in (project / "out" / "runs.ndjson").read_bytes().splitlines()]
    return {ALERTS_VIEW: list(alerts.values()), RUNS_VIEW: runs}


def _panels() -> list[tuple[str, str, dict[str, Any], str]]:
    """(title, data view, visState, query) of every visualization."""
    out = []
    for obj in saved_objects():
        if obj["type"] != "visualization":
            continue
        source = json.loads(obj["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
        state = json.loads(obj["attributes"]["visState"])
        out.append((state["title"], obj["references"][0]["id"], state, source["query"]["query"]))
    return out


def test_every_panel_field_is_written_and_aggregatable(
    written: dict[str, list[dict[str, Any]]],
) -> None:
    assert {t for t, *_ in _panels()} >= {
        "Incidents: rules and alerts per host and time cell",
        "Suppression: alerts and the matches merged into them, by rule",
        "Notifications: sent, retried, given up, throttled, by job",
    }
    for title, view, state, query in _panels():
        docs = written[view]
        mappings = ALERT_MAPPINGS if view == ALERTS_VIEW else RUN_MAPPINGS
        if query:  # `field:*`: documents that have the field
            field = query.removesuffix(":*")
            docs = [d for d in docs if _get(d, field) is not None]
            assert docs, f"{title}: no document matches {query}"
        for agg in state["aggs"]:
            field = agg["params"].get("field")
            if field is None:
                continue
            assert any(_get(d, field) is not None for d in docs), f"{title}: {field} never set"
            kind = _mapped_type(mappings, field)
            assert kind in AGGREGATABLE or (kind is None and field in ("host.name", "user.name")), (
                f"{title}: {field} is mapped as {kind}"
            )


def test_runs_say_what_was_suppressed_and_what_happened_to_notifications(
    written: dict[str, list[dict[str, Any]]],
) -> None:
    alerts = written[ALERTS_VIEW]
    merged = sum(_get(a, "kibana.alert.suppression.docs_count") or 0 for a in alerts)
    assert merged > 0  # the demo has hosts with several matches of the suppressed rule
    rule_runs = [r for r in written[RUNS_VIEW] if "run" in r["eqlwatch"]]
    assert sum(r["eqlwatch"]["run"]["alerts_suppressed"] for r in rule_runs) == merged
    (delivery,) = [r for r in written[RUNS_VIEW] if "notifications" in r["eqlwatch"]]
    n = delivery["eqlwatch"]["notifications"]
    assert n["job_id"] == "default"
    assert n["run_id"] == rule_runs[0]["eqlwatch"]["run"]["run_id"]
    assert n["sent"] == 0
    assert n["gave_up"] == len(alerts)  # one per alert (suppressed: one per bucket), target down
    assert delivery["event"]["outcome"] == "failure"
    assert "gave up" in n["errors"][0]
