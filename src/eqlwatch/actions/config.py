"""`[[job.actions]]`: where an alert is announced, when, which alerts, and how often.

Frozen data validated at the edge, like the rest of a job. Secrets never live in the file:
URLs and header values name them as `${NAME}`, resolved at send time from the environment
or from the file a `NAME_FILE` variable points at (see `secrets.py`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

Severity = Literal["low", "medium", "high", "critical"]


def _duration(value: Any) -> Any:
    if isinstance(value, str):
        # Imported here: a rule's `[[eqlwatch.actions]]` makes `eqlwatch.rules.model` import
        # this module, so importing the rules package at the top would be circular.
        from eqlwatch.rules.timespec import parse_duration

        return parse_duration(value)
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration)]

SEVERITY_RANK: dict[str, int] = {"low": 0, "medium": 1, "high": 2, "critical": 3}
BUILTIN_TEMPLATES = ("chat", "email", "webhook")


class ActionConfig(BaseModel):
    """One notification target of a job (or of a rule, overriding the job's)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, defer_build=True)

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    kind: Literal["apprise", "webhook"] = Field(alias="type")
    url: str = Field(min_length=1)
    when: Literal["per_alert", "summary"] = "per_alert"
    min_severity: Severity = "low"
    tags: tuple[str, ...] = ()
    throttle: Duration | None = None
    throttle_by: tuple[str, ...] = ("rule.id",)
    template: str = ""
    title: str = (
        "{% if count > 1 %}[eqlwatch] {{ count }} alerts, {{ incidents | length }} "
        "incident(s), job {{ job }}{% else %}[{{ alert.eqlwatch.severity }}] "
        "{{ alert.rule.name }}{% endif %}"
    )
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    max_attempts: int = Field(default=8, ge=1, le=1000)
    retry_backoff: Duration = timedelta(seconds=30)  # doubles per attempt, at most 1 h
    timeout: Duration = timedelta(seconds=10)

    @model_validator(mode="after")
    def _checks(self) -> ActionConfig:
        if self.throttle is not None and self.throttle <= timedelta(0):
            raise ValueError("throttle must be positive")
        if self.timeout <= timedelta(0):
            raise ValueError("timeout must be positive")
        if self.retry_backoff <= timedelta(0):
            raise ValueError("retry_backoff must be positive")
        if self.kind == "apprise" and (self.headers or self.method != "POST"):
            raise ValueError(
                "'headers' and 'method' are webhook settings; apprise URLs carry theirs"
            )
        return self

    @property
    def template_name(self) -> str:
        """The body template: the one named, else the default for this kind of target."""
        if self.template:
            return self.template
        if self.kind == "webhook":
            return "webhook"
        return "email" if self.url.split(":", 1)[0].lower().startswith("mailto") else "chat"

    def wants(self, severity: str, rule_tags: tuple[str, ...]) -> bool:
        """Whether an alert of this severity from a rule with these tags is announced here."""
        if SEVERITY_RANK.get(severity, 0) < SEVERITY_RANK[self.min_severity]:
            return False
        return not self.tags or not set(self.tags).isdisjoint(rule_tags)
