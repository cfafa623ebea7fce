"""`[[eqlwatch.exceptions]]`: known-good activity that must not raise an alert.

One entry is one condition: `field`, a list of `values`, and how to `match` them
("equals": exact and case-sensitive; "wildcard": case-insensitive `*`/`?` globs like EQL's
`:`; "cidr": the field is an IP inside one of the networks). A hit is excepted when any
entry matches any of its (non-missing) events. Matchers are compiled once per rule.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from eqlwatch.engine.wildcard import compile_wildcards
from eqlwatch.model import Hit
from eqlwatch.rules.fields import get_field, iter_values

if TYPE_CHECKING:
    from eqlwatch.rules.model import Rule

MatchKind = Literal["equals", "wildcard", "cidr"]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _ip_matcher(networks: list[Network]) -> Callable[[Any], bool]:
    def match(value: Any) -> bool:
        try:
            ip = ipaddress.ip_address(str(value))
        except ValueError:
            return False
        return any(ip in net for net in networks if net.version == ip.version)

    return match


class ExceptionEntry(BaseModel):
    """One suppression condition of a rule."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    field: str = Field(min_length=1)
    values: tuple[str, ...] = Field(min_length=1)
    match: MatchKind = "equals"
    description: str | None = None
    _matcher: Callable[[Any], bool] = PrivateAttr()

    @field_validator("values", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return tuple(str(v) if isinstance(v, int | float) else v for v in value)
        return value

    def model_post_init(self, context: Any, /) -> None:
        self._matcher = self._compile()

    def _compile(self) -> Callable[[Any], bool]:
        if self.match == "cidr":
            try:
                nets = [ipaddress.ip_network(v, strict=False) for v in self.values]
            except ValueError as exc:
                raise ValueError(f"invalid CIDR in values: {exc}") from exc
            return _ip_matcher(nets)
        if self.match == "wildcard":
            wild = compile_wildcards(self.values, insensitive=True)  # linear time, as EQL's `:`
            return lambda value: wild(str(value))
        wanted = frozenset(self.values)
        return lambda value: str(value) in wanted

    def matches_source(self, source: Any) -> bool:
        """True when the event's field holds (one of) the listed values."""
        return any(self._matcher(v) for v in iter_values(get_field(source, self.field)))


def matching_exception(rule: Rule, hit: Hit) -> ExceptionEntry | None:
    """The first exception entry that suppresses this hit, if any (pure)."""
    for entry in rule.eqlwatch.exceptions:
        for event in hit.events:
            if not event.missing and entry.matches_source(event.source):
                return entry
    return None


def is_excepted(rule: Rule, hit: Hit) -> bool:
    """Whether the rule's `[[eqlwatch.exceptions]]` suppress this hit (pure)."""
    return matching_exception(rule, hit) is not None
