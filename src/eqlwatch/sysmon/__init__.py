"""Sysmon and other Windows event logs → ECS, the way Elastic's windows integration maps them.

Pure mapping (`to_ecs`, `normalize_record`) is separate from file reading
(`read_windows_events`, `detect_format`); see docs/sysmon.md for the field table.
"""

from eqlwatch.sysmon.argv import join_command_line, quote_arg, split_command_line
from eqlwatch.sysmon.normalize import (
    FORWARDED_DATASET,
    SYSMON_DATASET,
    data_stream_name,
    normalize_record,
    to_ecs,
    to_record,
)
from eqlwatch.sysmon.reader import (
    INPUT_FORMATS,
    NormalizedEvent,
    detect_format,
    read_windows_events,
)
from eqlwatch.sysmon.record import WinRecord
from eqlwatch.sysmon.values import canonical_guid

__all__ = [
    "FORWARDED_DATASET",
    "INPUT_FORMATS",
    "SYSMON_DATASET",
    "NormalizedEvent",
    "WinRecord",
    "canonical_guid",
    "data_stream_name",
    "detect_format",
    "join_command_line",
    "normalize_record",
    "quote_arg",
    "read_windows_events",
    "split_command_line",
    "to_ecs",
    "to_record",
]
