"""Rendering a hit's note; a broken, slow or runaway template never loses the alert.

Each template is compiled once and cached. When a template fails (syntax, a missing field
under StrictUndefined, a sandbox violation, a time or size limit of `RenderLimits`), the
alert still gets a plain fallback note, the error is logged and counted, and `Note.error`
says what went wrong. A template that ran out of time `DISABLE_AFTER` times is not tried
again by this renderer: a job with thousands of hits must not spend the limit on each.
Without a templates folder every rule gets the packaged `default.md.j2`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from jinja2 import Template, TemplateNotFound

from eqlwatch.enrich import Enrichment
from eqlwatch.hitfacts import HitFacts, facts_of, present_sources, time_span
from eqlwatch.model import Hit
from eqlwatch.notes.env import make_environment
from eqlwatch.notes.facts import summarise
from eqlwatch.notes.limits import (
    RenderLimits,
    TemplateLimitError,
    TemplateTimeoutError,
    collect,
    guarded,
)
from eqlwatch.notes.sections import rule_sections
from eqlwatch.notes.view import EventView
from eqlwatch.rules.fields import get_field
from eqlwatch.rules.model import Rule

log = structlog.get_logger(__name__)
DEFAULT_TEMPLATE = "default.md.j2"
DISABLE_AFTER = 3  # time-outs of one template before this renderer stops trying it
_NO_ENRICHMENT = Enrichment(ips=())
_NO_ALERT = dict.fromkeys(
    ("id", "kind", "job_id", "detected_at", "start", "end", "severity", "risk_score")
)


@dataclass(frozen=True, slots=True)
class Note:
    """A rendered note; `error` is set when the fallback was used instead of the template."""

    text: str
    template: str
    error: str | None = None


def alert_view(
    alert_id: str,
    rule: Rule,
    hit: Hit,
    *,
    job_id: str,
    detected_at: str,
    timestamp_field: str,
    facts: HitFacts | None = None,
) -> dict[str, Any]:
    """The `alert` a template sees (the alert document is built after the note).

    `facts`, when given, must have been read with the same `timestamp_field`.
    """
    if facts is not None:
        span = facts.span()
    else:
        stamps = [get_field(e.source, timestamp_field) for e in hit.events if not e.missing]
        span = time_span([s for s in stamps if s is not None])
    return {
        "id": alert_id,
        "kind": hit.kind,
        "job_id": job_id,
        "detected_at": detected_at,
        "start": span[0] if span else None,
        "end": span[1] if span else None,
        "severity": rule.rule.severity,
        "risk_score": rule.rule.risk_score,
    }


def note_context(
    rule: Rule,
    hit: Hit,
    enrichment: Enrichment | None,
    alert: Mapping[str, Any] | None,
    sections: Mapping[str, str] | None = None,
    facts: HitFacts | None = None,
) -> dict[str, Any]:
    """What a template sees: rule, alert, events in order, facts, enrichment, sections.

    `ips` is the enrichment's IP list as plain dicts (cheaper in the sandbox than objects).
    `facts` are the hit's events already read (`hitfacts`), when the caller has them.
    """
    if facts is None:
        facts = facts_of(present_sources(hit))
    enrichment = enrichment if enrichment is not None else _NO_ENRICHMENT
    refs = [{"index": e.index, "id": e.id, "missing": e.missing} for e in hit.events]
    return {
        "rule": rule.template_view,
        "alert": {**_NO_ALERT, "kind": hit.kind, **(alert or {})},
        "hit": {"kind": hit.kind, "join_keys": list(hit.join_keys), "refs": refs},
        "events": [EventView(raw, plain=flag) for raw, flag in facts.pairs()],
        "facts": summarise(facts),
        "enrichment": enrichment,
        "ips": enrichment.document()["ips"],
        "sections": sections if sections is not None else rule_sections(rule),
    }


def fallback_note(rule: Rule, hit: Hit, error: str) -> str:
    """A plain note that needs no template: enough to triage while the template is fixed."""
    lines = [f"# {rule.name}", "", f"_The note template failed: {error}_", ""]
    lines += [rule.rule.description.strip(), "", "## Events"]
    lines += [f"- {e.index} / {e.id}" for e in hit.events if not e.missing]
    return "\n".join(lines) + "\n"


class NoteRenderer:
    """Renders notes from `templates_dir` (then the packaged templates), each compiled once.

    A `templates_dir` that does not exist counts as none: rules naming a template then get
    the packaged default note (one warning per template name), as `hunt` run from any
    directory needs.
    """

    def __init__(
        self,
        templates_dir: Path | None,
        *,
        default: str = DEFAULT_TEMPLATE,
        limits: RenderLimits | None = None,
    ) -> None:
        if templates_dir is not None and not templates_dir.is_dir():
            templates_dir = None
        self.templates_dir = templates_dir
        self.limits = limits or RenderLimits()
        self.env = make_environment(templates_dir, self.limits)
        self.default = default
        self.errors = 0
        self._compiled: dict[str, Template] = {}
        self._sections: dict[int, tuple[Rule, dict[str, str]]] = {}
        self._timeouts: dict[str, int] = {}
        self._substituted: set[str] = set()

    def sections(self, rule: Rule) -> dict[str, str]:
        """The rule's static Markdown sections, computed once per rule object."""
        cached = self._sections.get(id(rule))
        if cached is None or cached[0] is not rule:
            cached = self._sections[id(rule)] = (rule, rule_sections(rule))
        return cached[1]

    def template_name(self, rule: Rule) -> str:
        """The template the rule's notes render with (the default one when it names none,
        or names one while there is no templates folder)."""
        name = rule.eqlwatch.template
        if not name:
            return self.default
        if self.templates_dir is None and name not in self._substituted:
            try:
                self.template(name)
            except TemplateNotFound:
                self._substituted.add(name)
                log.warning(
                    "no templates folder: the default note is used",
                    rule=rule.rule_id,
                    template=name,
                )
        return self.default if name in self._substituted else name

    def template(self, name: str) -> Template:
        """The compiled template (cached); raises jinja2's errors when it cannot load."""
        compiled = self._compiled.get(name)
        if compiled is None:
            compiled = self._compiled[name] = self.env.get_template(name)
        return compiled

    def render(
        self,
        rule: Rule,
        hit: Hit,
        enrichment: Enrichment | None = None,
        *,
        alert: Mapping[str, Any] | None = None,
        facts: HitFacts | None = None,
    ) -> Note:
        """The hit's note, or the fallback note (logged, counted) when the template fails."""
        name = self.template_name(rule)
        try:
            if self._timeouts.get(name, 0) >= DISABLE_AFTER:
                raise TemplateLimitError(f"{name}: skipped after {DISABLE_AFTER} time-outs")
            template = self.template(name)  # compiled once, outside the render's deadline
            context = note_context(rule, hit, enrichment, alert, self.sections(rule), facts)
            text = guarded(self.limits, name, lambda: self._render(template, context))
        except Exception as exc:  # any template failure must still leave the alert written
            if isinstance(exc, TemplateTimeoutError):
                self._timeouts[name] = self._timeouts.get(name, 0) + 1
            self.errors += 1
            message = f"{type(exc).__name__}: {exc}"
            log.error(
                "note template failed",
                rule=rule.rule_id,
                rule_name=rule.name,
                template=name,
                error=message,
            )
            return Note(fallback_note(rule, hit, message), name, message)
        return Note(text, name)

    def _render(self, template: Template, context: dict[str, Any]) -> str:
        """The note's text, read piece by piece within the output limit."""
        return collect(template.generate(context), self.limits, template.name or "?")
