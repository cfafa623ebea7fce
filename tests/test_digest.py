"""The one-pass digest of plain events must equal the field-by-field digest (`get_field`)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.digest import digest_of
from eqlwatch.enrich import Enricher, load_ip_table
from eqlwatch.hitfacts import facts_of

ENRICHER = Enricher(load_ip_table())

# Few values, so events repeat and miss each other's fields often.
_value: st.SearchStrategy[Any] = st.sampled_from([None, "", "a", "b", 0, 1, 2.5, [], ["a", ""]])


def _optional(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=fields)


def _or_value(objects: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[Any]:
    return st.one_of(_value, objects)


_hash = _or_value(_optional(md5=_value, sha1=_value, sha256=_value, ssdeep=_value))
_event = _optional(
    host=_or_value(_optional(name=_value, hostname=_value, os=_or_value(_optional(type=_value)))),
    user=_or_value(_optional(name=_value, domain=_value, target=_or_value(_optional(name=_value)))),
    process=_or_value(_optional(name=_value, hash=_hash)),
    dll=_or_value(_optional(hash=_hash)),
    file=_or_value(_optional(hash=_hash, path=_value)),
    event=_or_value(_optional(category=st.one_of(_value, st.lists(_value, max_size=3)))),
    source=_or_value(_optional(ip=_value)),
    destination=_or_value(_optional(ip=_value)),
    network=_or_value(_optional(protocol=_value)),
)


@settings(max_examples=1000)
@given(st.lists(_event, min_size=1, max_size=4))
def test_one_pass_digest_equals_the_field_by_field_digest(events: list[dict[str, Any]]) -> None:
    _, plain = ENRICHER.scan(events)
    fast = facts_of(events, plain)
    assert fast.all_plain  # nested dicts only: the one-pass reader is the one under test
    slow = digest_of(facts_of(events))  # no plain flags: every field through get_field
    assert digest_of(fast) == slow


def test_digest_reads_flat_and_nested_events_alike() -> None:
    nested = {"host": {"name": "h1", "os": {"type": "windows"}}, "user": {"name": "u"}}
    flat = {"host.name": "h2", "user.name": "u", "user.target.name": "t", "event.category": "x"}
    digest = digest_of(facts_of([nested, flat]))
    assert (digest.host_name, digest.host_os, digest.user_name) == ("h1", "windows", "u")
    assert digest.hosts == ["h1", "h2"]
    assert digest.users == ["u", "t"]
    assert digest.categories == ["x"]
    assert digest.objects["host"] == {"name": "h1", "os": {"type": "windows"}}
