from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import structlog

from eqlwatch.model import Hit, HitEvent
from eqlwatch.notes import NoteRenderer
from eqlwatch.notes.check import synthetic_enrichment, synthetic_hit, synthetic_rule
from eqlwatch.notes.render import alert_view


@pytest.fixture
def templates(tmp_path: Path, repo_root: Path) -> Path:
    folder = tmp_path / "templates"
    shutil.copytree(repo_root / "templates", folder)
    return folder


def render_with(folder: Path, name: str, body: str) -> tuple[NoteRenderer, str, str | None]:
    (folder / name).write_text(body)
    renderer = NoteRenderer(folder)
    hit = synthetic_hit()
    note = renderer.render(synthetic_rule(name), hit, synthetic_enrichment(hit))
    return renderer, note.text, note.error


def test_default_note_tells_the_story(templates: Path) -> None:
    renderer = NoteRenderer(templates)
    hit = synthetic_hit()
    rule = synthetic_rule()
    view = alert_view("id1", rule, hit, job_id="j", detected_at="t", timestamp_field="@timestamp")
    note = renderer.render(rule, hit, synthetic_enrichment(hit), alert=view)
    assert note.error is None
    assert note.template == "default.md.j2"
    text = note.text
    assert text.startswith("# Synthetic rule for template checks")
    assert "ws-0042" in text
    assert "CORP\\alice" in text
    parent, process, child = (text.index(s) for s in ("cmd.exe /c run.bat", "/i:http", "-enc"))
    assert parent < process < child  # parent → process → child, in that order
    assert "| 203.0.113.7 | documentation |" in text
    assert "| 10.1.2.3 | private |" in text
    assert "Defense Evasion** (TA0005)" in text
    assert "- Check the parent process." in text
    assert "- https://attack.mitre.org/techniques/T1218/010/" in text
    assert "- Administrators registering COM servers." in text
    assert "2025-06-01T10:00:00.000Z → 2025-06-01T10:00:03.000Z" in text


def test_both_access_styles_in_templates(templates: Path) -> None:
    body = (
        '{{ events[0]["process.name"] }}|{{ events[0].process.parent.name }}|'
        '{{ field(events[1], "destination.ip") }}|{{ field(events[0], "nope", "-") }}|'
        '{{ events[1] | field("destination.port") }}|{{ events[0].get("process.pid") }}|'
        "{{ events[0].dll is defined }}{{ events[2].dll is defined }}|"
        '{{ events[0]["nope"] | default("d") }}'
    )
    _, text, error = render_with(templates, "t.md.j2", body)
    assert error is None
    assert text == "regsvr32.exe|cmd.exe|203.0.113.7|-|80|4242|FalseTrue|d"


@pytest.mark.parametrize(
    "body",
    [
        "{{ rule.nmae }}",  # typo: StrictUndefined
        "{{ events[0].process.pid_typo }}",
        "{{ rule.__class__.__mro__ }}",  # python internals
        "{{ events[0]._root }}",
        "{{ events[0].__class__ }}",
        "{{ events[0].get.__self__ }}",
        "{{ events[0].process.__class__.__mro__ }}",
        "{{ events[0]['_root'] }}",
        "{{ rule.references.append('x') }}",  # mutation in the immutable sandbox
        "{{ rule.update({'name': 'x'}) }}",  # dict methods that change data stay blocked
        "{{ facts.pop('host') }}",
        "{{ alert.setdefault('id', 'x') }}",
        "{{ sections.clear() }}",
        "{{ rule.get.__self__ }}",
        "{{ ''.__class__.__subclasses__() }}",
        "{% for x in range(10**9) %}{% endfor %}",
        "{{ 1 / 0 }}",
        "{% if %}",  # syntax error
    ],
)
def test_template_failure_falls_back_and_counts(templates: Path, body: str) -> None:
    renderer, text, error = render_with(templates, "bad.md.j2", body)
    assert error is not None
    assert renderer.errors == 1
    assert text.startswith("# Synthetic rule for template checks")
    assert "The note template failed" in text
    assert "- .ds-logs-endpoint.events.process-default-2025.06.01-000001 / ev0" in text


def test_failure_is_logged(templates: Path) -> None:
    with structlog.testing.capture_logs() as logs:
        render_with(templates, "bad.md.j2", "{{ nope }}")
    assert logs[0]["event"] == "note template failed"
    assert logs[0]["log_level"] == "error"
    assert logs[0]["template"] == "bad.md.j2"


def test_missing_template_falls_back(templates: Path) -> None:
    renderer = NoteRenderer(templates)
    hit = synthetic_hit()
    note = renderer.render(synthetic_rule("absent.md.j2"), hit)
    assert note.error is not None
    assert "absent.md.j2" in note.error


def test_templates_compiled_once(templates: Path) -> None:
    (templates / "t.md.j2").write_text("v1 {{ rule.name }}")
    renderer = NoteRenderer(templates)
    hit = synthetic_hit()
    rule = synthetic_rule("t.md.j2")
    first = renderer.render(rule, hit)
    (templates / "t.md.j2").write_text("v2 {{ rule.name }}")
    second = renderer.render(rule, hit)
    assert first.text == second.text == "v1 Synthetic rule for template checks"
    assert renderer.template("t.md.j2") is renderer.template("t.md.j2")


def test_missing_event_slots_are_listed_but_not_viewed(templates: Path) -> None:
    (templates / "t.md.j2").write_text(
        "{{ events | length }}/{{ hit.refs | length }}/{{ hit.refs[1].missing }}"
    )
    renderer = NoteRenderer(templates)
    hit = Hit(
        kind="sequence",
        events=(HitEvent("i", "a", {"x": 1}), HitEvent("", "", {}, missing=True)),
    )
    note = renderer.render(synthetic_rule("t.md.j2"), hit)
    assert note.error is None
    assert note.text == "1/2/True"


def test_alert_view_reads_dotted_timestamp_fields() -> None:
    hit = Hit(
        kind="sequence",
        events=(
            HitEvent("i", "a", {"event": {"ingested": "2025-01-01T00:00:01Z"}}),
            HitEvent("", "", {}, missing=True),
            HitEvent("i", "b", {"event.ingested": "2025-01-01T00:00:09Z"}),
        ),
    )
    view = alert_view(
        "x", synthetic_rule(), hit, job_id="j", detected_at="t", timestamp_field="event.ingested"
    )
    assert (view["start"], view["end"]) == ("2025-01-01T00:00:01Z", "2025-01-01T00:00:09Z")
    assert view["severity"] == "medium"


def test_dict_attribute_semantics_kept(templates: Path) -> None:
    body = (
        "{{ facts.host }}|{{ rule.severity }}|{{ sections.references[:2] }}|"
        "{{ hit.refs[0].id }}|{{ (facts.tree.items() | list | length) > 0 }}"
    )
    _, text, error = render_with(templates, "t.md.j2", body)
    assert error is None
    assert text == "ws-0042|medium|- |ev0|True"


def test_template_globals_are_a_plain_snapshot_that_templates_and_imports_see(
    templates: Path,
) -> None:
    """Globals are one dict (cheap to copy per render); helpers reach macros too."""
    (templates / "_g.md.j2").write_text('{% macro m(e) %}{{ field(e, "host.name") }}{% endmacro %}')
    body = '{% import "_g.md.j2" as g %}{{ field(events[0], "user.name") }}/{{ g.m(events[0]) }}'
    renderer, text, error = render_with(templates, "g.md.j2", body)
    assert error is None
    assert text == "alice/ws-0042"
    assert type(renderer.template("g.md.j2").globals) is dict


def test_dict_reading_methods_work_in_templates(templates: Path) -> None:
    body = (
        '{{ facts.get("host") }}|{{ facts.get("nope", "-") }}|'
        "{{ alert.keys() | list | length > 3 }}|{{ hit.items() | list | length }}|"
        "{{ sections.values() | list | length }}"
    )
    _, text, error = render_with(templates, "ok.md.j2", body)
    assert error is None
    assert text == "ws-0042|-|True|3|5"
