"""Sigma correlation rules → EQL: `temporal_ordered` is a `sequence ... with maxspan`.

The file holds the correlation and the rules it names (YAML documents separated by `---`,
as in Sigma's specification). `temporal` (any order), `event_count`, `value_count` and the
value aggregations have no EQL form that Elasticsearch evaluates as Sigma means them: they
are the rule's clear error.
"""

from __future__ import annotations

from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationConditionOperator as Op
from sigma.correlations import SigmaCorrelationRule, SigmaCorrelationType, SigmaRuleReference
from sigma.rule import SigmaRule

from eqlwatch.sigma.query import QueryError_, source_of, to_eql
from eqlwatch.sigma.taxonomy import field_for

_WHY = {
    SigmaCorrelationType.TEMPORAL: (
        "temporal (the rules' events in any order) has no EQL form: a sequence fixes the "
        "order and sample has no time span"
    ),
    SigmaCorrelationType.EVENT_COUNT: "event_count needs an aggregation EQL does not have",
    SigmaCorrelationType.VALUE_COUNT: "value_count needs an aggregation EQL does not have",
}


def correlation_of(collection: SigmaCollection) -> SigmaCorrelationRule:
    found = [r for r in collection.rules if isinstance(r, SigmaCorrelationRule)]
    if len(found) != 1:
        raise QueryError_(f"{len(found)} correlation rules in the file: exactly one is supported")
    return found[0]


def _join_fields(correlation: SigmaCorrelationRule, ref: SigmaRuleReference) -> list[str]:
    rule = ref.rule
    assert isinstance(rule, SigmaRule)
    source = source_of(rule)
    fields: list[str] = []
    for name in correlation.group_by or []:
        alias = correlation.aliases.aliases.get(name)
        sigma_field = name
        if alias is not None:
            names = {ref.reference, rule.name, str(rule.id)}
            mapped = next((f for r, f in alias.mapping.items() if r.reference in names), None)
            if mapped is None:
                raise QueryError_(f"alias {name!r} names no field for rule {ref.reference!r}")
            sigma_field = mapped
        ecs = field_for(source, sigma_field)
        if len(ecs) != 1 or ecs[0] == "user":
            raise QueryError_(f"group-by field {sigma_field} has no single ECS field to join on")
        fields.append(ecs[0])
    return fields


def correlation_eql(collection: SigmaCollection) -> tuple[SigmaCorrelationRule, str]:
    """(the correlation rule, its EQL sequence)."""
    correlation = correlation_of(collection)
    kind = correlation.type
    if kind != SigmaCorrelationType.TEMPORAL_ORDERED:
        raise QueryError_(_WHY.get(kind, f"correlation type {kind.name.lower()} is not supported"))
    refs = correlation.rules or []
    if len(refs) < 2:
        raise QueryError_("temporal_ordered needs at least two rules")
    condition = correlation.condition
    op, count = getattr(condition, "op", Op.GTE), getattr(condition, "count", 1)
    if not (op is Op.GTE and count <= 1) and not (op is Op.GT and count < 1):
        raise QueryError_("only the condition 'at least one sequence' (gte: 1) is supported")
    if not correlation.group_by:
        raise QueryError_("temporal_ordered without group-by would join unrelated events")
    steps = []
    for ref in refs:
        rule = ref.rule
        if not isinstance(rule, SigmaRule):
            raise QueryError_(f"rule {ref.reference!r} is itself a correlation")
        steps.append(f"  [{to_eql(rule)}] by {', '.join(_join_fields(correlation, ref))}")
    span = correlation.timespan.seconds
    return correlation, f"sequence with maxspan={span}s\n" + "\n".join(steps)
