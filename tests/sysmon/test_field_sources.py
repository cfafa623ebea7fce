"""`mapping.field_sources` names every EventData key an ECS text field can come from.

The EVTX screen looks for a needle of a test on such a field only in those keys' values
(`pipeline/hunt_fields.py`); a key missing here would drop records a rule matches. These
tests hold the table to what the normaliser writes, for random records of every Sysmon
event id, so a change to the mapping that feeds a field from a new key fails here.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.sysmon.mapping import field_sources
from eqlwatch.sysmon.normalize import to_ecs
from eqlwatch.sysmon.tables import SYSMON_EVENTS
from eqlwatch.sysmon.values import get

SOURCES = field_sources()
KEYS = sorted(
    {k for keys in SOURCES.values() for k in keys}
    | {"User", "Hashes", "RuleName", "Signature", "SignatureStatus", "Signed", "Protocol"}
    | {"QueryName", "TargetObject", "Details", "SourceIp", "DestinationHostname", "Extra"}
)
# Pieces that make paths, names with and without extensions, GUIDs with and without braces,
# empty and `-` values (dropped), case, escapes and non-ASCII text.
PIECES = ["C:", "\\", "\\\\", ".", "exe", "Reg", "ASM", "a b", '"', "-", "{", "}", "é", "İ", "K"]
GUID = "0ab1c2d3-1111-2222-3333-444455556666"
VALUE = st.one_of(
    st.lists(st.sampled_from(PIECES), max_size=6).map("".join),
    st.sampled_from([GUID, "{" + GUID.upper() + "}", " " + GUID + " ", "-", ""]),
)


def _piece(value: str) -> str:
    """What a field's value must be a piece of in its source: lower case, GUID braces off."""
    return value.strip().lower().removeprefix("{").removesuffix("}")


@settings(max_examples=400, deadline=None)
@given(
    eid=st.sampled_from([*sorted(SYSMON_EVENTS), 99]),
    data=st.dictionaries(st.sampled_from(KEYS), VALUE, max_size=8),
)
def test_every_field_value_is_a_piece_of_one_of_its_sources(eid: int, data: dict[str, str]) -> None:
    record: dict[str, Any] = {
        "Event": {
            "System": {
                "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
                "EventID": eid,
                "EventRecordID": 1,
                "Channel": "Microsoft-Windows-Sysmon/Operational",
                "Computer": "PC1",
            },
            "EventData": data,
        }
    }
    doc = to_ecs(record)
    for field, keys in SOURCES.items():
        value = get(doc, field)
        if value is None:
            continue
        assert isinstance(value, str), (field, value)
        sources = [data[k].lower() for k in keys if k in data]
        assert any(_piece(value) in s for s in sources), (field, value, sources)


def test_a_field_the_table_left_out_is_caught() -> None:
    """The check above fails when a source is missing: `process.name` from `Image`."""
    doc = to_ecs(
        {
            "Event": {
                "System": {
                    "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
                    "EventID": 1,
                    "EventRecordID": 1,
                    "Channel": "Microsoft-Windows-Sysmon/Operational",
                    "Computer": "PC1",
                },
                "EventData": {"Image": "C:\\w\\RegAsm.exe", "CommandLine": "cmd /c x"},
            }
        }
    )
    assert get(doc, "process.name") == "RegAsm.exe"
    assert "Image" in SOURCES["process.name"]
    assert "CommandLine" not in SOURCES["process.name"]


@pytest.mark.parametrize("field", ["process.name", "file.name", "dll.name", "process.parent.name"])
def test_derived_names_have_the_sources_of_the_path_they_come_from(field: str) -> None:
    whole = {
        "process.name": "process.executable",
        "process.parent.name": "process.parent.executable",
    }
    path = whole.get(field, "file.path")
    assert SOURCES[path] <= SOURCES[field]
