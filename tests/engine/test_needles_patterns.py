"""Pattern needles are sound: whatever value a `:`/`like` pattern matches, the JSON line
holding that value holds a needle of every group the pattern gives (Hypothesis over
patterns and values mixing case, digits, booleans' letters, repr characters, non-ASCII).
And the category read before parsing keeps exactly the rules the parsed event would."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eqlwatch.engine import SourceEvent, compile_query
from eqlwatch.engine.needles import NON_ASCII, filter_groups
from eqlwatch.engine.reader import source_event
from eqlwatch.errors import Location, QueryError
from eqlwatch.pipeline.hunt_index import CategoryIndex, categories_of
from eqlwatch.pipeline.linematch import LOWERS_TO_ASCII, escaped

CHARS = "aAeE1.0tTrufls{}[]' :,-+x\u00e9\u202e\u212a\u0130"
text = st.text(alphabet=CHARS, max_size=6)
scalar = st.one_of(text, st.integers(-20, 200), st.floats(-1e3, 1e22), st.booleans(), st.none())
value = st.one_of(
    scalar,
    st.sampled_from([{"a": "\u202e"}, {"a": "x\x7fa"}]),  # Python escapes these in an object's text
    st.lists(scalar, max_size=3),
    st.dictionaries(st.sampled_from(["a", "e"]), scalar, max_size=2),
)
pattern = st.one_of(
    st.text(alphabet=CHARS + "**??", min_size=1, max_size=7),
    st.sampled_from(
        ["1*", "*0", "tru*", "?als?", "{*}", "{'a*", "*: 1}", "*None*", "?e*", "*202e*", "*x7fa*"]
    ),
)


regex = st.one_of(
    st.text(alphabet='aAe1.:x{}[]()|+*?-^\\"@\u00e9', min_size=1, max_size=8),
    st.sampled_from(
        ["[A-Z]:\\\\:.+", "[a-z]x\\.e", "a(b|c)?xe+", "\\dx", "[{]x", "[^a]x", "[{]'e.*", ".'a.*"]
    ),
)


def _eql(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


def _matches(query: str, doc: dict[str, Any]) -> bool:
    compiled = compile_query(query)
    return bool(compiled.run([SourceEvent("i", "1", doc)]))


def _sound(query: str, val: Any) -> bool:
    """Where `query` matches {"x": val}, the line holds a needle of every group (True:
    it matched)."""
    doc = {"@timestamp": "2026-01-01T00:00:00Z", "x": val}
    line = orjson.dumps(doc)
    if escaped(line) or any(c.encode() in line for c in LOWERS_TO_ASCII):
        return False  # such a line goes to every rule
    try:
        if not _matches(query, doc):
            return False
    except QueryError:
        return False  # not a valid pattern
    low = line.lower()
    for group in filter_groups(compile_query(query).parsed.stages[0], "@timestamp"):
        assert any(n in low for n in group), (query, val, sorted(group))
    return True


@pytest.mark.parametrize(
    ("query", "val"),
    [
        ('x : "a*"', "ab"),
        ('x regex~ "A.x?"', "ab"),
        ('x : "*\u202e*"', "a\u202e"),
        ('x : "tr*"', True),
    ],
)
def test_the_properties_see_matching_values(query: str, val: Any) -> None:
    assert _sound(f"any where {query}", val)


@settings(max_examples=400, deadline=None)
@given(pat=pattern, val=value, op=st.sampled_from([":", "like", "like~"]))
def test_a_matching_value_holds_a_needle_of_every_group(pat: str, val: Any, op: str) -> None:
    _sound(f'any where x {op} "{_eql(pat)}"', val)


@settings(max_examples=400, deadline=None)
@given(pat=regex, val=value, op=st.sampled_from(["regex", "regex~"]))
def test_a_value_a_regex_matches_holds_a_needle_of_every_group(pat: str, val: Any, op: str) -> None:
    _sound(f'any where x {op} "{_eql(pat)}"', val)


@pytest.mark.parametrize(
    ("pat", "expected"),
    [
        ("*AAA.AAA", {b'aaa.aaa"'}),  # letters of "false" alone no longer mean a number
        ("Dll", {b'"dll"'}),
        ("?:\\Windows\\*\\oci.dll", {b":\\\\windows\\\\", b'\\\\oci.dll"'}),  # every piece
        ("*\\{*}\\Dll", {b"\\\\{", b'}\\\\dll"'}),  # no object's text ends in `Dll`
        ("*\u202e*", set(NON_ASCII)),  # needs a non-ASCII character in the value
        ("regex~ [A-Z]:\\\\:.+", {b":\\\\:"}),  # a regex's literal run
        ("regex C:\\\\P( \\(x\\))?\\\\St.*", {b"c:\\\\p", b"\\\\st"}),
        ("regex [a-z]\u00e9.*", set(NON_ASCII)),
    ],
)
def test_pattern_needles(pat: str, expected: set[bytes]) -> None:
    op, _, pat = pat.partition(" ") if pat.startswith("regex") else (":", "", pat)
    query = f'any where x {op} "{_eql(pat)}"'
    groups = filter_groups(compile_query(query).parsed.stages[0], "t")
    found = set().union(*(g for g in groups if b'"x"' not in g))
    assert found == expected


@pytest.mark.parametrize(
    "pat",
    [
        "tru*",
        "1*",
        "*e+2*",
        "{*}",
        "*\u212a*",
        "regex .*x",
        "regex [^a]x",
        "regex tr.e",
        "regex a|b",
    ],
)
def test_no_pattern_needle_where_a_scalar_or_object_text_may_match(pat: str) -> None:
    op, _, pat = pat.partition(" ") if pat.startswith("regex") else (":", "", pat)
    query = f'any where x {op} "{_eql(pat)}"'
    groups = filter_groups(compile_query(query).parsed.stages[0], "t")
    assert groups == [frozenset({b'"x"'})]  # only the field's name


CATEGORY = st.one_of(
    st.sampled_from(["process", "network", "file", "dns"]),
    st.lists(st.sampled_from(["process", "network", 1]), max_size=2),
    st.none(),
    st.integers(0, 2),
)
EVENT = st.one_of(st.fixed_dictionaries({"category": CATEGORY}), st.none(), st.just("process"))


@st.composite
def line(draw: st.DrawFn) -> bytes:
    doc: dict[str, Any] = {}
    if draw(st.booleans()):
        doc["event"] = draw(EVENT)
    if draw(st.booleans()):
        doc["event.category"] = draw(CATEGORY)
    if draw(st.booleans()):  # a search hit: the event is its `_source` when an object
        doc["_source"] = draw(st.one_of(st.fixed_dictionaries({"event": EVENT}), st.none()))
    if draw(st.booleans()):
        doc["_id"] = "h1"
    body = orjson.dumps(doc)
    if draw(st.booleans()) and doc.get("event") is not None:  # a duplicate key: last wins
        body = body[:-1] + b',"event":' + orjson.dumps(draw(EVENT)) + b"}"
    return body


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(line(), min_size=1, max_size=5))
def test_the_category_read_before_parsing_keeps_what_the_parsed_event_would(
    lines: list[bytes],
) -> None:
    queries = ["process where true", "network where true", "any where true", "file where x"]
    index = CategoryIndex([categories_of(compile_query(q)) for q in queries])
    everyone = [0, 1, 2, 3]
    for body in lines:
        source = source_event("i", orjson.loads(body), Location(file="f")).source
        assert index.keep_line(body, everyone) == index.keep(source, everyone), body


@settings(max_examples=600, deadline=None)
@given(
    pat=st.one_of(
        st.text(alphabet="aAx.+*?|()[]{}12,", min_size=1, max_size=6),
        st.sampled_from(["ax?", "xa*", "a{0,1}x", "(ax)?a", "a.?x"]),
    ),
    val=st.text(alphabet="aAx", max_size=5),
    op=st.sampled_from(["regex", "regex~"]),
)
def test_small_regexes_over_strings_they_often_match(pat: str, val: str, op: str) -> None:
    _sound(f'any where x {op} "{_eql(pat)}"', val)
