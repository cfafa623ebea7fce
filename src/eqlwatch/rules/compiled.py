"""Each rule's query compiled once per process, shared by validate, run and hunt.

Parsing a detection-rules query costs milliseconds (Lark, then eql's walkers); a folder of
a thousand rules used to be parsed once by the loader's check and again by whoever ran
them. A compiled query holds no run state (executors hold it), so one object serves all.
Failures are not cached: a broken rule raises again, with its own error, each time.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from eqlwatch.rules.model import Rule

if TYPE_CHECKING:  # the engine is imported only when a query is compiled
    from eqlwatch.engine import CompiledQuery

CACHE_SIZE = 8192  # well above the largest public rule set (~1,100 EQL rules)


@lru_cache(maxsize=CACHE_SIZE)
def compiled_query(
    text: str,
    timestamp_field: str,
    tiebreaker_field: str | None,
    event_category_field: str,
    max_samples_per_key: int = 1,
) -> CompiledQuery:
    """`text` compiled with these event fields; raises QueryError (or worse) as compile does.

    The parse comes from the cache across processes when an earlier run made it.
    """
    from eqlwatch.engine import compile_query
    from eqlwatch.rules import cache

    cache.parse(text)  # later parses of this text in this process are then free
    compiled = compile_query(
        text,
        timestamp_field=timestamp_field,
        tiebreaker_field=tiebreaker_field,
        event_category_field=event_category_field,
        max_samples_per_key=max_samples_per_key,
    )
    cache.mark_compiled(
        _settings(
            text, timestamp_field, tiebreaker_field, event_category_field, max_samples_per_key
        )
    )
    return compiled


def _settings(text: str, *options: object) -> tuple[str, ...]:
    """What a compile's success depends on besides eqlwatch's code: the text, its options."""
    return (text, *map(repr, options))


def compile_rule(
    rule: Rule,
    timestamp_field: str = "@timestamp",
    tiebreaker_field: str | None = None,
    event_category_field: str = "event.category",
) -> CompiledQuery:
    """The rule's query with its own event fields (else the given defaults), compiled once."""
    fields = rule.event_fields(timestamp_field, tiebreaker_field, event_category_field)
    return compiled_query(rule.query, *fields, rule.eqlwatch.max_samples_per_key)


def known_to_compile(rule: Rule) -> bool:
    """Whether the rule's query compiled, with the options `compile_rule(rule)` gives it,
    in an earlier process (checking it need not compile it again: only failures are news)."""
    from eqlwatch.rules import cache

    fields = rule.event_fields("@timestamp", None, "event.category")
    return cache.compiles(_settings(rule.query, *fields, rule.eqlwatch.max_samples_per_key))


def clear_caches() -> None:
    """Forget every compiled query and parse, and let go of the cache file (after writing
    what is pending): benches and tests measure a first load, as a new process would."""
    from eqlwatch.engine.parse import clear_cache
    from eqlwatch.rules import cache

    compiled_query.cache_clear()
    clear_cache()
    cache.close()
