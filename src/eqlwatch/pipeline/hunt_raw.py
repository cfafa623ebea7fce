"""Raw Windows records screened before they are normalised to ECS, and routed per rule.

Normalising a Sysmon record costs far more than reading it, and most records concern no
rule. Each rule's `raw_needles` (pieces of text some value of the record must hold, ASCII
case aside, for a filter of the rule to match the record's ECS form) are searched in one
pass over the record's values; a record is normalised only for the rules whose needles it
holds, plus the rules that have none (they see every record). A record with non-ASCII text
or a `\\u` escape goes to every rule (`str.lower` maps some non-ASCII letters to ASCII).
Records are still read and turned into `WinRecord`s, so a bad one is reported as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson

from eqlwatch.engine.needles import Group, event_tags
from eqlwatch.pipeline.hunt_scan import ScanCounts
from eqlwatch.pipeline.linematch import Match, line_matcher
from eqlwatch.sysmon.record import WinRecord


def record_text(rec: WinRecord) -> bytes:
    """The values the normaliser copies into the fields `RAW_FIELDS` names, as JSON text,
    and the tags of the event id (`event.code`, Sysmon's `event.category`)."""
    values = [rec.computer, rec.provider, rec.channel, *rec.event_data.values()]
    return orjson.dumps(values) + event_tags(rec.event_id, rec.is_sysmon)


@dataclass
class RawScreen:
    """Which rules a raw record goes to; `targets` is the answer for the last kept record."""

    per_rule: Sequence[Group | None]
    counts: ScanCounts
    fast: bool = True
    always: list[int] = field(init=False)
    needled: list[int] = field(init=False)
    match: Match | None = field(init=False)
    targets: list[int] = field(init=False)

    def __post_init__(self) -> None:
        self.always = [i for i, g in enumerate(self.per_rule) if g is None]
        self.needled = [i for i, g in enumerate(self.per_rule) if g is not None]
        groups = [g for g in self.per_rule if g is not None]
        self.match = line_matcher(groups, fast=self.fast) if groups else None
        self.targets = list(range(len(self.per_rule)))

    @property
    def active(self) -> bool:
        """Whether screening can drop or route anything (some rule has needles)."""
        return self.match is not None

    def keep(self, rec: WinRecord) -> bool:
        """Whether any rule may need `rec`; a dropped record is still counted as read."""
        assert self.match is not None
        found = self.match(record_text(rec))
        if found is None:
            targets = self.always
        elif not self.always:
            targets = [self.needled[j] for j in found]
        else:
            targets = sorted({*self.always, *(self.needled[j] for j in found)})
        if not targets:
            self.counts.events += 1
            return False
        self.targets = targets
        self.counts.normalized += 1
        return True
