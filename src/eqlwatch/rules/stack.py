"""The Elastic Stack version a rule needs: its `min_stack_version`, checked against its query.

A rule declares the oldest stack it runs on (detection-rules' `[metadata]
min_stack_version`); a query using `sample` needs 8.6, whatever it declares. The loader
refuses a declaration below what the query needs (it would mislead whoever reads it) and
a malformed one; the Elasticsearch backend skips a rule above the cluster's version.
"""

from __future__ import annotations

import contextlib
import re

from eqlwatch.errors import ConfigError, EqlwatchError, Location
from eqlwatch.rules.model import Rule

Version = tuple[int, int, int]
SAMPLE_FROM: Version = (8, 6, 0)
MAX_SAMPLES_FROM: Version = (8, 7, 0)
_VERSION = re.compile(r"^\s*(\d+)\.(\d+)(?:\.(\d+))?\s*$")


def parse_version(text: str) -> Version:
    """`8.6` or `8.6.0` → (8, 6, 0); anything else raises ValueError."""
    match = _VERSION.match(text)
    if match is None:
        raise ValueError(f"not a stack version: {text!r} (expected e.g. '8.9.0')")
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def show(version: Version) -> str:
    return ".".join(str(p) for p in version)


def required_stack_version(rule: Rule) -> str | None:
    """`required_version` as text ("8.6.0"), for a SearchRequest."""
    version = required_version(rule)
    return None if version is None else show(version)


def query_needs(rule: Rule) -> tuple[Version, str] | None:
    """The version the query's features need, and which feature, if any beyond 8.0."""
    if not is_sample(rule):
        return None
    if rule.eqlwatch.max_samples_per_key != 1:
        return MAX_SAMPLES_FROM, "max_samples_per_key"
    return SAMPLE_FROM, "sample"


def is_sample(rule: Rule) -> bool:
    return rule.query.lstrip().lower().startswith("sample")


def required_version(rule: Rule) -> Version | None:
    """The newest of the declared version and what the query needs (None: any version)."""
    declared = rule.metadata.min_stack_version
    needs = query_needs(rule)
    candidates = [needs[0]] if needs else []
    if declared:
        with contextlib.suppress(ValueError):  # reported by `check_stack_version`
            candidates.append(parse_version(declared))
    return max(candidates) if candidates else None


def check_stack_version(rule: Rule, *, file: str, line: int | None) -> list[EqlwatchError]:
    """A malformed `min_stack_version`, or one below what the query needs, is an error."""
    errors: list[EqlwatchError] = []
    declared = rule.metadata.min_stack_version
    if not declared:
        return errors
    where = Location(file=file, line=line, field="metadata.min_stack_version")
    try:
        version = parse_version(declared)
    except ValueError as exc:
        return [*errors, ConfigError(str(exc), location=where)]
    needs = query_needs(rule)
    if needs is not None and version < needs[0]:
        message = (
            f"min_stack_version {declared} is below {show(needs[0])}, which `{needs[1]}` needs"
        )
        errors.append(ConfigError(message, location=where))
    return errors


def check_max_samples(rule: Rule, *, file: str, line: int | None) -> list[EqlwatchError]:
    """`max_samples_per_key` on a query that is not a `sample` would be silently ignored."""
    if rule.eqlwatch.max_samples_per_key == 1 or is_sample(rule):
        return []
    where = Location(file=file, line=line, field="eqlwatch.max_samples_per_key")
    return [ConfigError("max_samples_per_key applies only to `sample` queries", location=where)]
