"""A parsed Sigma detection condition → the EQL query (category, filter, condition)."""

from __future__ import annotations

from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.rule import SigmaRule

from eqlwatch.sigma.taxonomy import CHANNELS, SOURCES, Source, field_for, service_source
from eqlwatch.sigma.values import ValueError_, comparison


class QueryError_(ValueError):
    """The rule's detection cannot be written as EQL; the message says which part and why."""


def source_of(rule: SigmaRule) -> Source:
    """The EQL event category of the rule's log source (Windows only, for now)."""
    logsource = rule.logsource
    if logsource.product != "windows":
        product = logsource.product or "(none)"
        raise QueryError_(
            f"unsupported log source: product {product!r} "
            f"(category {logsource.category!r}, service {logsource.service!r}); only Windows "
            "log sources are mapped to the ECS fields eqlwatch's normaliser and Elastic's "
            "Windows integrations write"
        )
    category = logsource.category
    if category is None and logsource.service is not None:
        service = service_source(logsource.service)
        if service is not None:
            return service
    if category is None and logsource.service is None:
        raise QueryError_(
            "unsupported log source: product 'windows' with neither a category nor a "
            "service names no event family to search"
        )
    if category is None:
        raise QueryError_(
            f"unsupported log source: service {logsource.service!r} without a category is not "
            f"mapped (mapped services: {', '.join(sorted(CHANNELS))})"
        )
    source = SOURCES.get(category)
    if source is None:
        raise QueryError_(
            f"unsupported log source: category {category!r} is not mapped "
            f"(mapped: {', '.join(sorted(SOURCES))})"
        )
    return source


def _node(node: Any, source: Source) -> str:
    if isinstance(node, ConditionAND):
        return "(" + " and ".join(_node(a, source) for a in node.args) + ")"
    if isinstance(node, ConditionOR):
        return "(" + " or ".join(_node(a, source) for a in node.args) + ")"
    if isinstance(node, ConditionNOT):
        return "not " + _node(node.args[0], source)
    if isinstance(node, ConditionFieldEqualsValueExpression):
        try:
            fields = field_for(source, node.field)
        except KeyError:
            message = f"field {node.field}: dropped by the Sysmon → ECS pipeline, no field holds it"
            raise QueryError_(message) from None
        try:
            if len(fields) == 1:
                return comparison(fields[0], node.value)
            return "(" + " or ".join(comparison(f, node.value) for f in fields) + ")"
        except ValueError_ as exc:
            raise QueryError_(f"field {node.field}: {exc}") from None
    if isinstance(node, ConditionValueExpression):
        raise QueryError_(f"keyword {node.value} (a value without a field) is not supported")
    raise QueryError_(f"condition element {type(node).__name__} is not supported")


def to_eql(rule: SigmaRule) -> str:
    """The rule's EQL: `category where filter and (condition)`; one condition only."""
    source = source_of(rule)
    conditions = rule.detection.parsed_condition
    if len(conditions) != 1:
        raise QueryError_(f"{len(conditions)} conditions: only one condition per rule is supported")
    body = _node(conditions[0].parsed, source)
    if source.filter is None:
        return f"{source.category} where {body}"
    return f"{source.category} where {source.filter} and {body}"
