"""Rules: detection-rules TOML files with eqlwatch's `[eqlwatch]` extras."""

from eqlwatch.rules.compiled import compile_rule
from eqlwatch.rules.exceptions import ExceptionEntry, is_excepted, matching_exception
from eqlwatch.rules.fields import get_field
from eqlwatch.rules.loader import LoadResult, Skipped, load_rule_text, load_rules, parse_rule
from eqlwatch.rules.model import (
    EqlwatchTable,
    EventFields,
    Fixture,
    Metadata,
    Rule,
    RuleBody,
    Severity,
    Technique,
    Threat,
    ThreatRef,
)
from eqlwatch.rules.timespec import format_duration, parse_duration, parse_from

__all__ = [
    "EqlwatchTable",
    "EventFields",
    "ExceptionEntry",
    "Fixture",
    "LoadResult",
    "Metadata",
    "Rule",
    "RuleBody",
    "Severity",
    "Skipped",
    "Technique",
    "Threat",
    "ThreatRef",
    "compile_rule",
    "format_duration",
    "get_field",
    "is_excepted",
    "load_rule_text",
    "load_rules",
    "matching_exception",
    "parse_duration",
    "parse_from",
    "parse_rule",
]
