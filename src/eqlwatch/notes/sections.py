"""The parts of a note that depend only on the rule, rendered once per rule.

Description, ATT&CK mapping, triage guide, references and false positives are the same in
every alert of a rule; formatting them per alert in Jinja would cost more than the rest of
the note. Templates get them as ready Markdown in `sections`, and can still format
`rule.*` themselves when they want a different look.
"""

from __future__ import annotations

from typing import Any

from eqlwatch.rules.model import Rule


def _bullets(items: list[str], empty: str) -> str:
    lines = [f"- {' '.join(item.split())}" for item in items if item.strip()]
    return "\n".join(lines or [f"- {empty}"])


def _attack(threats: list[dict[str, Any]]) -> str:
    lines: list[str] = []
    for threat in threats:
        tactic = threat["tactic"]
        lines.append(f"- {threat['framework']}: **{tactic['name']}** ({tactic['id']})")
        for tech in threat.get("technique") or []:
            lines.append(f"  - {tech['id']} {tech['name']}")
            lines += [f"    - {s['id']} {s['name']}" for s in tech.get("subtechnique") or []]
    return "\n".join(lines or ["- No ATT&CK mapping on this rule."])


def _triage(note: str | None) -> str:
    if not note or not note.strip():
        return ""
    text = note.strip()
    return text if text.startswith("#") else f"## Triage\n\n{text}"


def rule_sections(rule: Rule) -> dict[str, str]:
    """Markdown for the rule-only parts of a note."""
    view = rule.template_view
    return {
        "description": view["description"].strip(),
        "attack": _attack(view["threat"]),
        "triage": _triage(view["note"]),
        "references": _bullets(view["references"], "None listed."),
        "false_positives": _bullets(view["false_positives"], "None listed."),
    }
