"""Sigma rules, natively: a Sigma YAML file becomes an eqlwatch rule running EQL.

pySigma parses the rule (detections, modifiers, condition); our taxonomy maps Sigma's
Windows field names to the ECS fields the Sysmon normaliser and Elastic's integrations
write, and our own serializer writes EQL that Elasticsearch accepts and the embedded
engine evaluates alike. Whatever cannot be said in EQL is the rule's error, never a crash.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eqlwatch.sigma.files import SIGMA_SUFFIXES, SigmaConversionError, is_sigma_file

if TYPE_CHECKING:
    from eqlwatch.sigma.convert import sigma_rule_data


def __getattr__(name: str) -> Any:
    """`sigma_rule_data` imports pySigma: only when a Sigma file is read."""
    if name == "sigma_rule_data":
        from eqlwatch.sigma.convert import sigma_rule_data

        return sigma_rule_data
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["SIGMA_SUFFIXES", "SigmaConversionError", "is_sigma_file", "sigma_rule_data"]
