"""A rule file as data: Elastic detection-rules' TOML plus eqlwatch's own `[eqlwatch]` table.

The models mirror the detection-rules format closely enough that an EQL rule file from that
repository validates unchanged: unknown keys (`[transform]`, `investigation_fields`, ...)
are kept, not rejected. Only eqlwatch's own table is strict, so a typo there is an error.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from eqlwatch.actions.config import ActionConfig
from eqlwatch.rules.exceptions import ExceptionEntry
from eqlwatch.rules.timespec import format_duration, parse_duration, parse_from

Severity = Literal["low", "medium", "high", "critical"]


def _duration(value: Any) -> Any:
    return parse_duration(value) if isinstance(value, str) else value


def _lookback(value: Any) -> Any:
    return parse_from(value) if isinstance(value, str) else value


Duration = Annotated[timedelta, BeforeValidator(_duration)]
Lookback = Annotated[timedelta, BeforeValidator(_lookback)]


class _Open(BaseModel):
    """Frozen, keeps unknown keys: the detection-rules format grows and we must not break.

    Validators are built when a model first validates (`defer_build`), not at import: a run
    whose rules all come from the cache (unpickled, not validated) never builds them, nor
    scans for pydantic plugins (~30-45 ms of `hunt`'s start-up together).
    """

    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True, defer_build=True)


class _Strict(BaseModel):
    """Frozen, rejects unknown keys: eqlwatch's own tables, where a typo is a mistake.
    Validators built on first use, as `_Open`'s."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class Metadata(_Open):
    creation_date: str | None = None
    updated_date: str | None = None
    maturity: str | None = None
    integration: tuple[str, ...] | str | None = None
    min_stack_version: str | None = None
    min_stack_comments: str | None = None


class ThreatRef(_Open):
    id: str
    name: str
    reference: str | None = None


class Technique(ThreatRef):
    subtechnique: tuple[ThreatRef, ...] = ()


class Threat(_Open):
    framework: str = "MITRE ATT&CK"
    tactic: ThreatRef
    technique: tuple[Technique, ...] = ()


class RuleBody(_Open):
    """The `[rule]` table."""

    rule_id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    description: str
    type: str
    language: str = "eql"
    query: str = Field(min_length=1)
    risk_score: int = Field(ge=0, le=100)
    severity: Severity
    index: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    threat: tuple[Threat, ...] = ()
    note: str | None = None
    setup: str | None = None
    references: tuple[str, ...] = ()
    false_positives: tuple[str, ...] = ()
    from_: Lookback = Field(default=timedelta(minutes=6), alias="from")
    interval: Duration = timedelta(minutes=5)
    author: tuple[str, ...] = ()
    license: str | None = None
    version: int | None = None
    max_signals: int | None = Field(default=None, ge=1)
    timestamp_override: str | None = None
    timestamp_override_fallback_disabled: bool = False
    timestamp_field: str | None = None
    tiebreaker_field: str | None = None
    event_category_override: str | None = None
    building_block_type: str | None = None

    @field_validator("type")
    @classmethod
    def _eql_only(cls, value: str) -> str:
        if value != "eql":
            raise ValueError(f"only EQL rules (type = 'eql') are supported, got {value!r}")
        return value

    @field_validator("language")
    @classmethod
    def _eql_language(cls, value: str) -> str:
        if value != "eql":
            raise ValueError(f"only language = 'eql' is supported, got {value!r}")
        return value


class Fixture(_Strict):
    """Events a rule must fire on (positive) or stay silent on (negative)."""

    path: str = Field(min_length=1)
    kind: Literal["positive", "negative"]
    synthetic: bool = False
    alerts: int | None = Field(default=None, ge=0)
    event_ids: tuple[tuple[str, ...], ...] | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Fixture:
        if self.kind == "negative" and (self.alerts or self.event_ids):
            raise ValueError("a negative fixture expects no alerts")
        if self.kind == "positive" and self.alerts == 0:
            raise ValueError("a positive fixture expects at least one alert")
        counted = self.alerts is not None and self.event_ids is not None
        if counted and len(self.event_ids or ()) != self.alerts:
            raise ValueError("'alerts' and the number of 'event_ids' entries disagree")
        return self

    @property
    def expected_alerts(self) -> int | None:
        """How many alerts the fixture must yield; None means "at least one"."""
        if self.kind == "negative":
            return 0
        if self.alerts is not None:
            return self.alerts
        return len(self.event_ids) if self.event_ids is not None else None


class Suppression(_Strict):
    """`suppression = { group_by = [...], duration = "1h", missing_fields = "suppress" }`:
    matches sharing the group_by values within `duration` of the first become one alert
    (Kibana's alert suppression; see docs/actions.md "Suppression")."""

    group_by: tuple[str, ...] = Field(min_length=1)
    duration: Duration
    missing_fields: Literal["suppress", "doNotSuppress"] = "suppress"

    @field_validator("duration")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("suppression duration must be positive")
        return value

    @field_validator("group_by")
    @classmethod
    def _distinct(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not name for name in value) or len(set(value)) != len(value):
            raise ValueError("group_by must name distinct, non-empty fields")
        return value


class EqlwatchTable(_Strict):
    """The top-level `[eqlwatch]` table: eqlwatch's extras, ignored by Elastic's tooling."""

    template: str | None = None
    enabled: bool = True
    # `sample` queries: how many samples each join key may yield (Elasticsearch's
    # `max_samples_per_key`, 8.7+); detection-rules has no field for it.
    max_samples_per_key: int = Field(default=1, ge=1)
    suppression: Suppression | None = None
    # `[[eqlwatch.actions]]`: replace the job's actions for this rule's alerts (an empty
    # list silences the rule); None: the job's apply (docs/actions.md "Per-rule actions").
    actions: tuple[ActionConfig, ...] | None = None
    exceptions: tuple[ExceptionEntry, ...] = ()
    fixtures: tuple[Fixture, ...] = ()

    @field_validator("actions")
    @classmethod
    def _unique_actions(
        cls, value: tuple[ActionConfig, ...] | None
    ) -> tuple[ActionConfig, ...] | None:
        names = [a.name for a in value or ()]
        if len(set(names)) != len(names):
            raise ValueError("action names must be distinct within a rule")
        return value


class EventFields(NamedTuple):
    """Timestamp, tiebreaker and category fields, named as compile_query/SearchRequest take them."""

    timestamp_field: str
    tiebreaker_field: str | None
    event_category_field: str


class Rule(_Open):
    """One loaded rule file. `path` is where it came from (for messages and fixtures)."""

    # factories, not instances made at import: making one builds the model's validator
    metadata: Metadata = Field(default_factory=Metadata)
    rule: RuleBody
    eqlwatch: EqlwatchTable = Field(default_factory=EqlwatchTable)
    path: str | None = None

    @property
    def rule_id(self) -> str:
        return self.rule.rule_id

    @property
    def name(self) -> str:
        return self.rule.name

    @property
    def query(self) -> str:
        return self.rule.query

    def event_fields(
        self,
        timestamp_field: str = "@timestamp",
        tiebreaker_field: str | None = None,
        event_category_field: str = "event.category",
    ) -> EventFields:
        """The fields a search for this rule reads: the rule's own, else the given defaults."""
        body = self.rule
        return EventFields(
            timestamp_field=body.timestamp_field or timestamp_field,
            tiebreaker_field=body.tiebreaker_field or tiebreaker_field,
            event_category_field=body.event_category_override or event_category_field,
        )

    @property
    def lookback(self) -> timedelta:
        """How far back from "now" one run looks (the rule's `from`)."""
        return self.rule.from_

    @cached_property
    def ecs_fields(self) -> dict[str, Any]:
        """The rule's part of every alert (`rule.*`, `threat.*`, `tags`): built once."""
        body = self.rule
        rule: dict[str, Any] = {
            "id": body.rule_id,
            "uuid": body.rule_id,
            "name": body.name,
            "description": body.description.strip(),
            "ruleset": "eqlwatch",
        }
        optional: dict[str, Any] = {"version": None if body.version is None else str(body.version)}
        optional |= {"license": body.license, "author": list(body.author) or None}
        optional["reference"] = list(body.references) or None
        rule |= {k: v for k, v in optional.items() if v is not None}
        fields: dict[str, Any] = {"rule": rule, "tags": list(body.tags)}
        if body.threat:
            fields["threat"] = _ecs_threat(body.threat)
        return fields

    @cached_property
    def template_view(self) -> dict[str, Any]:
        """Plain, JSON-like data for note templates: computed once, never a live model."""
        body = self.rule.model_dump(mode="json", by_alias=True)
        body["from"] = f"now-{format_duration(self.rule.from_)}"
        body["interval"] = format_duration(self.rule.interval)
        body["metadata"] = self.metadata.model_dump(mode="json")
        body["template"] = self.eqlwatch.template
        return body


def _refs(items: list[ThreatRef]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"id": [], "name": [], "reference": []}
    for item in items:
        if item.id not in out["id"]:
            out["id"].append(item.id)
            out["name"].append(item.name)
            out["reference"].append(item.reference or "")
    return out


def _ecs_threat(threats: tuple[Threat, ...]) -> dict[str, Any]:
    """ECS `threat.*`: parallel keyword arrays over every tactic, technique, subtechnique."""
    techniques = [tech for t in threats for tech in t.technique]
    subs = [sub for tech in techniques for sub in tech.subtechnique]
    technique: dict[str, Any] = dict(_refs(list(techniques)))
    if subs:
        technique["subtechnique"] = _refs(subs)
    threat: dict[str, Any] = {
        "framework": threats[0].framework,
        "tactic": _refs([t.tactic for t in threats]),
    }
    if techniques:
        threat["technique"] = technique
    return threat
