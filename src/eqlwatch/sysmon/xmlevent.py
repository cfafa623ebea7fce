"""One Windows event from its XML (Splunk's XmlWinEventLog, `event.original`).

Parsed with defusedxml: a DTD or entity declaration is refused, never expanded.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from eqlwatch.errors import DataError, Location
from eqlwatch.sysmon.record import WinRecord
from eqlwatch.sysmon.shapes import from_evtx_json


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(node: Element, name: str) -> Element | None:
    for c in node:
        if _local(c.tag) == name:
            return c
    return None


def _as_json(node: Element) -> object:
    """An element in the evtx-rs JSON spelling: `#attributes` plus text or children."""
    out: dict[str, object] = {}
    if node.attrib:
        out["#attributes"] = {_local(k): v for k, v in node.attrib.items()}
    children = list(node)
    if not children:
        if not out:
            return node.text
        if node.text and node.text.strip():
            out["#text"] = node.text
        return out
    for c in children:
        out[_local(c.tag)] = _as_json(c)
    return out


def _event_data(node: Element | None) -> dict[str, object] | None:
    if node is None:
        return None
    named: dict[str, object] = {}
    unnamed: list[object] = []
    for data in node:
        if _local(data.tag) != "Data":
            continue
        name = data.attrib.get("Name")
        if name is None:
            unnamed.append(data.text)
        else:
            named[name] = data.text
    if unnamed:
        named["Data"] = unnamed
    return named


def parse_event_xml(xml: str) -> WinRecord:
    """The `<Event xmlns=...>` text of one event → a `WinRecord`."""
    try:
        root = fromstring(xml.strip())
    except (ParseError, DefusedXmlException) as exc:
        raise DataError(f"not a well-formed event XML: {exc}") from exc
    if _local(root.tag) != "Event":
        raise DataError(f"expected an <Event> element, found <{_local(root.tag)}>")
    system = _child(root, "System")
    if system is None:
        raise DataError("no System block", location=Location(field="System"))
    event: dict[str, object] = {"System": _as_json(system)}
    event["EventData"] = _event_data(_child(root, "EventData"))
    user_data = _child(root, "UserData")
    if user_data is not None:
        event["UserData"] = _as_json(user_data)
    return from_evtx_json(event)
