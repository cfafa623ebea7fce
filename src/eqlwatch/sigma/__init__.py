"""Sigma rules, natively: a Sigma YAML file becomes an eqlwatch rule running EQL.

pySigma parses the rule (detections, modifiers, condition); our taxonomy maps Sigma's
Windows field names to the ECS fields the Sysmon normaliser and Elastic's integrations
write, and our own serializer writes EQL that Elasticsearch accepts and the embedded
engine evaluates alike. Whatever cannot be said in EQL is the rule's error, never a crash.
"""

from eqlwatch.sigma.convert import (
    SIGMA_SUFFIXES,
    SigmaConversionError,
    is_sigma_file,
    sigma_rule_data,
)

__all__ = ["SIGMA_SUFFIXES", "SigmaConversionError", "is_sigma_file", "sigma_rule_data"]
