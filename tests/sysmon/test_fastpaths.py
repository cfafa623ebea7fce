"""The normaliser's fast paths give what the general path gives, key order included.

The general path is the one the fast paths replaced on the hot loop: EventData flattened
into a copy and then cleaned, collector fields dropped by a copy, ECS fields set one dotted
`put` at a time. Each is kept here (or still in the package) as the reference.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from eqlwatch.sysmon.normalize import ECS_VERSION, NAMESPACE, SYSMON_DATASET, _envelope
from eqlwatch.sysmon.record import WinRecord
from eqlwatch.sysmon.shapes import _NXLOG_META, _event_data, _flatten_event_data
from eqlwatch.sysmon.values import clean_event_data, get, put

_KEYS = st.sampled_from(
    [
        "#attributes", "#text", "Data", "ProcessGuid", "SourceProcessGUID", "LogonGuid",
        "Image", "CommandLine", "param1", "param2", "EventTime", "Hostname", "Message",
        "SourceName", "EventID", "guid",
    ]
) | st.text(max_size=6)  # fmt: skip
_GUIDISH = st.sampled_from(
    [
        "365abb72-c8b1-5cc4-0000-001037a41200",
        "{365ABB72-C8B1-5CC4-0000-001037A41200}",
        " {365abb72-c8b1-5cc4-0000-001037a41200} ",
        "00000000-0000-0000-0000-000000000000",
        "{00000000-0000-0000-0000-000000000000}",
        "365abb72-c8b1-5cc4-0000-001037a4120",
    ]
)
_SCALAR = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["", "-", "  ", "true"]),
    _GUIDISH,
    st.integers(-(2**40), 2**40),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False),
)
_NODE = st.one_of(
    _SCALAR,
    st.fixed_dictionaries({"#text": _SCALAR}),
    st.fixed_dictionaries({"#attributes": st.just({"Name": "x"}), "#text": _SCALAR}),
    st.dictionaries(_KEYS, _SCALAR, max_size=3),
)
_VALUE = st.one_of(_NODE, st.lists(_NODE, max_size=4))


def _items(d: dict[str, Any]) -> list[tuple[str, Any]]:
    return list(d.items())


@given(st.one_of(st.dictionaries(_KEYS, _VALUE, max_size=12), _VALUE))
def test_event_data_in_one_pass_is_flatten_then_clean(node: Any) -> None:
    expected = clean_event_data(_flatten_event_data(node))
    assert _items(_event_data(node)) == _items(expected)


@given(st.dictionaries(_KEYS, _SCALAR, max_size=20), st.frozensets(_KEYS, max_size=5))
def test_clean_with_skipped_keys_is_clean_of_a_copy_without_them(
    raw: dict[str, Any], skip: frozenset[str]
) -> None:
    copy = {k: v for k, v in raw.items() if k not in skip}
    assert _items(clean_event_data(raw, skip=skip)) == _items(clean_event_data(copy))


@given(st.dictionaries(_KEYS, _SCALAR, max_size=20))
def test_nxlog_meta_skipped_as_the_copy_did(raw: dict[str, Any]) -> None:
    copy = {k: v for k, v in raw.items() if k not in _NXLOG_META}
    assert _items(clean_event_data(raw, skip=_NXLOG_META)) == _items(clean_event_data(copy))


# --- the envelope: built key by key against the dotted puts it replaced -------------------


def _envelope_by_puts(rec: WinRecord, dataset: str) -> dict[str, Any]:
    winlog: dict[str, Any] = {"event_id": str(rec.event_id)}
    simple = {
        "channel": rec.channel,
        "computer_name": rec.computer,
        "provider_name": rec.provider,
        "provider_guid": rec.provider_guid,
        "record_id": None if rec.record_id is None else str(rec.record_id),
        "version": rec.version,
        "opcode": rec.opcode,
        "task": rec.task,
    }
    winlog.update({k: v for k, v in simple.items() if v is not None})
    if rec.pid is not None:
        put(winlog, "process.pid", rec.pid)
    if rec.thread_id is not None:
        put(winlog, "process.thread.id", rec.thread_id)
    if rec.user_sid:
        put(winlog, "user.identifier", rec.user_sid)
    if rec.user_data:
        winlog["user_data"] = dict(rec.user_data)
    doc: dict[str, Any] = {
        "ecs": {"version": ECS_VERSION},
        "event": {"kind": "event", "code": str(rec.event_id), "dataset": dataset},
        "data_stream": {"type": "logs", "dataset": dataset, "namespace": NAMESPACE},
        "host": {"os": {"type": "windows", "family": "windows", "platform": "windows"}},
        "winlog": winlog,
    }
    if rec.time_created:
        doc["@timestamp"] = rec.time_created
        put(doc, "event.created", rec.time_created)
    if rec.provider:
        put(doc, "event.provider", rec.provider)
    if rec.computer:
        put(doc, "host.name", rec.computer)
    if rec.level:
        put(doc, "log.level", rec.level)
    if rec.user_sid:
        put(doc, "user.id", rec.user_sid)
    return doc


_TEXT = st.one_of(st.none(), st.sampled_from(["", "-", "x"]), st.text(max_size=5))
_INT = st.one_of(st.none(), st.integers(0, 2**32))

_RECORDS = st.builds(
    WinRecord,
    event_id=st.integers(0, 70000),
    provider=_TEXT,
    provider_guid=_TEXT,
    channel=_TEXT,
    computer=_TEXT,
    record_id=_INT,
    time_created=_TEXT,
    level=_TEXT,
    version=_INT,
    opcode=_TEXT,
    task=_TEXT,
    pid=_INT,
    thread_id=_INT,
    user_sid=_TEXT,
    user_data=st.one_of(st.none(), st.dictionaries(st.text(max_size=3), _TEXT, max_size=2)),
)


@given(_RECORDS)
def test_envelope_is_the_one_the_puts_built(rec: WinRecord) -> None:
    # Serialised: the same bytes means the same keys in the same order at every level.
    assert orjson.dumps(_envelope(rec, SYSMON_DATASET)) == orjson.dumps(
        _envelope_by_puts(rec, SYSMON_DATASET)
    )


# --- get: against a walk that checks every step ----------------------------------------


def _get_checked(doc: Any, dotted: str) -> Any:
    node = doc
    for name in dotted.split("."):
        if not isinstance(node, dict) or name not in node:
            return None
        node = node[name]
    return node


_TREE = st.recursive(
    st.one_of(st.none(), st.integers(), st.text(max_size=3)),
    lambda inner: st.dictionaries(st.sampled_from("abc"), inner, max_size=3),
    max_leaves=12,
)


@given(_TREE, st.lists(st.sampled_from("abc"), min_size=1, max_size=4).map(".".join))
def test_get_is_a_checked_walk(doc: Any, dotted: str) -> None:
    assert get(doc, dotted) == _get_checked(doc, dotted)
