"""Kibana saved objects for triage: two data views, a saved search and a dashboard.

The dashboard covers alerts (by rule, severity, host, user, IP class), incidents across
rules (`eqlwatch.group`), suppression (`kibana.alert.suppression.docs_count`), rule health
from the run reports, and notification delivery from the runs' notification reports.

Built as data (pure), exported as NDJSON in Kibana's 8.x export format so the import API,
or a person with curl, can load them. Visualisations are aggregation-based (`visState`),
which Kibana 8.x and 9.x still import and migrate; ids are fixed so re-importing with
`overwrite=true` updates rather than duplicates.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

ALERTS_VIEW = "eqlwatch-alerts"
RUNS_VIEW = "eqlwatch-runs"
TRIAGE_SEARCH = "eqlwatch-triage"
DASHBOARD = "eqlwatch-overview"
CORE_VERSION = "8.8.0"
INDEX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"

TRIAGE_COLUMNS = (
    "rule.name",
    "eqlwatch.severity",
    "event.risk_score",
    "host.name",
    "user.name",
    "process.name",
    "destination.ip",
    "eqlwatch.enrichment.ips.category",
    "event.url",
)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _search_source(query: str = "") -> str:
    return _json(
        {
            "query": {"query": query, "language": "kuery"},
            "filter": [],
            "indexRefName": INDEX_REF,
        }
    )


def _view_ref(view_id: str) -> list[dict[str, str]]:
    return [{"id": view_id, "name": INDEX_REF, "type": "index-pattern"}]


def data_view(
    view_id: str, pattern: str, name: str, url_fields: Sequence[str] = ()
) -> dict[str, Any]:
    """An `index-pattern` object; `url_fields` render as links (Discover links back)."""
    formats = {
        f: {"id": "url", "params": {"labelTemplate": "open in Discover"}} for f in url_fields
    }
    return {
        "type": "index-pattern",
        "id": view_id,
        "attributes": {
            "title": pattern,
            "name": name,
            "timeFieldName": "@timestamp",
            "fields": "[]",
            "fieldAttrs": "{}",
            "fieldFormatMap": _json(formats),
            "runtimeFieldMap": "{}",
            "sourceFilters": "[]",
            "allowHidden": False,
        },
        "references": [],
        "coreMigrationVersion": CORE_VERSION,
        "typeMigrationVersion": "8.0.0",
        "managed": False,
    }


def saved_search(
    search_id: str, title: str, view_id: str, columns: Sequence[str]
) -> dict[str, Any]:
    """A Discover saved search of alerts, newest first, with the triage columns."""
    return {
        "type": "search",
        "id": search_id,
        "attributes": {
            "title": title,
            "description": "eqlwatch alerts to triage; event.url opens the source events.",
            "columns": list(columns),
            "sort": [["@timestamp", "desc"]],
            "kibanaSavedObjectMeta": {"searchSourceJSON": _search_source("event.kind:alert")},
        },
        "references": _view_ref(view_id),
        "coreMigrationVersion": CORE_VERSION,
        "typeMigrationVersion": "8.0.0",
    }


def _agg(agg_id: str, kind: str, schema: str, **params: Any) -> dict[str, Any]:
    return {"id": agg_id, "enabled": True, "type": kind, "schema": schema, "params": params}


def visualization(
    vis_id: str,
    title: str,
    vis_type: str,
    view_id: str,
    aggs: Iterable[Mapping[str, Any]],
    params: Mapping[str, Any] | None = None,
    query: str = "",
) -> dict[str, Any]:
    """An aggregation-based visualisation over one data view."""
    state = {"title": title, "type": vis_type, "params": dict(params or {}), "aggs": list(aggs)}
    return {
        "type": "visualization",
        "id": vis_id,
        "attributes": {
            "title": title,
            "visState": _json(state),
            "uiStateJSON": "{}",
            "description": "",
            "version": 1,
            "kibanaSavedObjectMeta": {"searchSourceJSON": _search_source(query)},
        },
        "references": _view_ref(view_id),
        "coreMigrationVersion": CORE_VERSION,
        "typeMigrationVersion": "8.5.0",
    }


def _count() -> dict[str, Any]:
    return _agg("1", "count", "metric")


def _over_time(split_field: str) -> list[dict[str, Any]]:
    return [
        _count(),
        _agg("2", "date_histogram", "segment", field="@timestamp", interval="auto"),
        _agg("3", "terms", "group", field=split_field, size=10, order="desc", orderBy="1"),
    ]


def _top(field: str, schema: str = "bucket", size: int = 10) -> list[dict[str, Any]]:
    """Count per value: table rows use schema `bucket`, pie slices `segment`."""
    return [
        _count(),
        _agg("2", "terms", schema, field=field, size=size, order="desc", orderBy="1"),
    ]


def visualizations() -> list[dict[str, Any]]:
    """The dashboard's panels: alert trends, top entities, IP classes, rule health,
    incidents, suppression and notification delivery."""
    health = [
        _count(),
        _agg("2", "max", "metric", field="eqlwatch.run.lag_s"),
        _agg("3", "sum", "metric", field="eqlwatch.run.hits"),
        _agg("4", "sum", "metric", field="eqlwatch.run.alerts_created"),
        _agg(
            "5", "terms", "bucket", field="eqlwatch.run.rule_id", size=50, order="desc", orderBy="1"
        ),
        _agg("6", "sum", "metric", field="eqlwatch.run.alerts_suppressed"),
    ]
    # Suppressed alerts (kibana.alert.suppression.*) and the matches merged into them.
    suppression = [
        _count(),
        _agg("2", "sum", "metric", field="kibana.alert.suppression.docs_count"),
        _agg("3", "terms", "bucket", field="rule.name", size=20, order="desc", orderBy="2"),
    ]
    # Incidents (eqlwatch.group): host and time cell, most rules first.
    incidents = [
        _count(),
        _agg("2", "cardinality", "metric", field="rule.id"),
        _agg("3", "terms", "bucket", field="eqlwatch.group.value", size=20, order="desc",
             orderBy="2"),
        _agg("4", "terms", "bucket", field="eqlwatch.group.start", size=10, order="desc",
             orderBy="2"),
    ]  # fmt: skip
    # Deliveries per job (one notification report per job run with actions).
    notifications = [
        _agg("1", "sum", "metric", field="eqlwatch.notifications.sent"),
        _agg("2", "sum", "metric", field="eqlwatch.notifications.retried"),
        _agg("3", "sum", "metric", field="eqlwatch.notifications.gave_up"),
        _agg("4", "sum", "metric", field="eqlwatch.notifications.throttled"),
        _agg("5", "terms", "bucket", field="eqlwatch.notifications.job_id", size=20,
             order="desc", orderBy="3"),
    ]  # fmt: skip
    return [
        visualization(
            "eqlwatch-alerts-by-rule",
            "Alerts over time by rule",
            "histogram",
            ALERTS_VIEW,
            _over_time("rule.name"),
        ),
        visualization(
            "eqlwatch-alerts-by-severity",
            "Alerts over time by severity",
            "histogram",
            ALERTS_VIEW,
            _over_time("eqlwatch.severity"),
        ),
        visualization("eqlwatch-top-hosts", "Top hosts", "table", ALERTS_VIEW, _top("host.name")),
        visualization("eqlwatch-top-users", "Top users", "table", ALERTS_VIEW, _top("user.name")),
        visualization(
            "eqlwatch-ip-classes",
            "IP classes in alerts",
            "pie",
            ALERTS_VIEW,
            _top("eqlwatch.enrichment.ips.category", "segment"),
            {"isDonut": True},
        ),
        visualization(
            "eqlwatch-rule-health",
            "Rule health: runs, lag, hits, alerts",
            "table",
            RUNS_VIEW,
            health,
        ),
        visualization(
            "eqlwatch-run-status",
            "Runs by status (errors, partial, skipped)",
            "histogram",
            RUNS_VIEW,
            _over_time("eqlwatch.run.status"),
        ),
        visualization(
            "eqlwatch-incidents",
            "Incidents: rules and alerts per host and time cell",
            "table",
            ALERTS_VIEW,
            incidents,
            query="eqlwatch.group.id:*",
        ),
        visualization(
            "eqlwatch-suppression",
            "Suppression: alerts and the matches merged into them, by rule",
            "table",
            ALERTS_VIEW,
            suppression,
            query="kibana.alert.suppression.docs_count:*",
        ),
        visualization(
            "eqlwatch-notifications",
            "Notifications: sent, retried, given up, throttled, by job",
            "table",
            RUNS_VIEW,
            notifications,
            query="eqlwatch.notifications.run_id:*",
        ),
    ]


def dashboard(panels: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """A dashboard of (type, id) panels, two per row, in order; a saved search takes a row
    of its own (starting a new row when the one before is half full: no overlap)."""
    entries, refs = [], []
    x = y = 0
    for n, (kind, obj_id) in enumerate(panels, start=1):
        width = 48 if kind == "search" else 24
        if x + width > 48:
            x, y = 0, y + 15
        grid = {"x": x, "y": y, "w": width, "h": 15, "i": str(n)}
        x += width
        entries.append(
            {
                "version": CORE_VERSION,
                "type": kind,
                "gridData": grid,
                "panelIndex": str(n),
                "embeddableConfig": {},
                "panelRefName": f"panel_{n}",
            }
        )
        refs.append({"name": f"{n}:panel_{n}", "type": kind, "id": obj_id})
    return {
        "type": "dashboard",
        "id": DASHBOARD,
        "attributes": {
            "title": "eqlwatch overview",
            "description": (
                "Alerts by rule and severity, hosts, users, IP classes, rule health, "
                "incidents, suppression, notifications."
            ),
            "panelsJSON": _json(entries),
            "optionsJSON": _json(
                {"useMargins": True, "syncColors": False, "hidePanelTitles": False}
            ),
            "timeRestore": True,
            "timeFrom": "now-7d",
            "timeTo": "now",
            "version": 1,
            "kibanaSavedObjectMeta": {
                "searchSourceJSON": _json(
                    {"query": {"query": "", "language": "kuery"}, "filter": []}
                )
            },
        },
        "references": refs,
        "coreMigrationVersion": CORE_VERSION,
        "typeMigrationVersion": "8.7.0",
    }


def saved_objects(
    alerts_pattern: str = "logs-eqlwatch.alerts-*", runs_pattern: str = "logs-eqlwatch.runs-*"
) -> list[dict[str, Any]]:
    """Every object, referenced ones first (the order Kibana exports them in)."""
    vis = visualizations()
    panels = [("visualization", v["id"]) for v in vis] + [("search", TRIAGE_SEARCH)]
    return [
        data_view(
            ALERTS_VIEW,
            alerts_pattern,
            "eqlwatch alerts",
            url_fields=("event.url", "eqlwatch.events.url"),
        ),
        data_view(RUNS_VIEW, runs_pattern, "eqlwatch run reports"),
        saved_search(TRIAGE_SEARCH, "eqlwatch alerts to triage", ALERTS_VIEW, TRIAGE_COLUMNS),
        *vis,
        dashboard(panels),
    ]


def to_ndjson(objects: Iterable[Mapping[str, Any]]) -> bytes:
    """One compact JSON object per line, as Kibana's export writes it."""
    return b"".join(orjson.dumps(obj, option=orjson.OPT_SORT_KEYS) + b"\n" for obj in objects)
