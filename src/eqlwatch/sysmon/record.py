"""One Windows event, whatever collector wrote it down.

Every input shape (EVTX, evtx-rs JSON, Winlogbeat, NXLog, bare EventData, Splunk XML) is
first turned into a `WinRecord`; the ECS mapping reads only this, so each shape needs an
adapter and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SYSMON_PROVIDER = "Microsoft-Windows-Sysmon"
SYSMON_CHANNEL = "Microsoft-Windows-Sysmon/Operational"


@dataclass(frozen=True, slots=True)
class WinRecord:
    """The System block and the EventData of one event, values already cleaned.

    `event_data` holds strings only, with empty / `-` / null-GUID values dropped and GUIDs
    in their canonical `{UPPER}` spelling. `time_created` is ISO 8601 with millis and Z.
    """

    event_id: int
    event_data: Mapping[str, str] = field(default_factory=dict)
    provider: str | None = None
    provider_guid: str | None = None
    channel: str | None = None
    computer: str | None = None
    record_id: int | None = None
    time_created: str | None = None
    level: str | None = None
    version: int | None = None
    opcode: str | None = None
    task: str | None = None
    pid: int | None = None
    thread_id: int | None = None
    user_sid: str | None = None
    user_data: Mapping[str, Any] | None = None

    @property
    def is_sysmon(self) -> bool:
        """Sysmon by provider or channel; bare EventData with neither is taken as Sysmon."""
        if self.provider is None and self.channel is None:
            return True
        return self.provider == SYSMON_PROVIDER or self.channel == SYSMON_CHANNEL
