"""Rule files' TOML read by rtoml equals tomllib's reading: values, errors, edge cases."""

from __future__ import annotations

import datetime as dt
import math
import pickle
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eqlwatch.rules import toml_text

REPO = Path(__file__).resolve().parents[2]


def outcome(load: Any, text: str) -> object:
    """The value in a comparable form, or the error's type and message."""
    try:
        return comparable(load(text))
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        return type(exc), str(exc)


def comparable(value: object) -> object:
    """Time zones by their offset (classes differ), NaN equal to itself, types kept."""
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [comparable(v) for v in value]
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return "datetime", value.utcoffset(), value.replace(tzinfo=None)
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return type(value).__name__, value


def repo_toml_files() -> list[Path]:
    found = [*REPO.glob("*.toml"), *REPO.glob("queries/**/*.toml"), *REPO.glob("jobs/**/*.toml")]
    found += REPO.glob("tests/**/*.toml")
    return sorted(found)


def test_every_toml_file_of_the_repository_reads_the_same() -> None:
    files = repo_toml_files()
    assert len(files) > 15
    fast = 0
    for file in files:
        text = file.read_text("utf-8")
        assert outcome(toml_text.loads, text) == outcome(tomllib.loads, text), file
        fast += "{" not in text and not toml_text._new_escape(text)
    assert fast > 10  # most went the fast way, so rtoml's reading was the one compared


@pytest.mark.parametrize(
    "text",
    [
        'a = """x\r\ny"""\n',  # rtoml keeps the CR inside the string
        "a = 1979-05-27T07:32:00-08:00\nb = 1979-05-27 07:32:00Z\n",  # rtoml's zones
        "a = 1e400\n",  # rtoml rejects, tomllib reads infinity
        "a = {b = 1,\n c = 2}\n",  # TOML 1.1 (rtoml reads it, tomllib does not)
        "a = {b = 1, c = 2,}\n",
        "a = [{b = 1,\n}]\n",
        'a = "\\e"\n',
        'a = "\\x41"\n',
        'a = "\\\\\\e"\n',
        "t = 07:32\n",
        "t = 1979-05-27T07:32\n",
        "t = 1979-05-27T07:32Z\n",
        "é = 1\n",
        'a = "\\\\e \\\\x 10:30:00"\n',  # escaped backslashes, a full time: the fast way
        "a = 1\na = 2\n",
        "x = [" * 60 + "]" * 60 + "\n",  # past rtoml's depth limit
        "x = [" * 3000 + "]" * 3000 + "\n",  # past tomllib's too
        "a.b = 1\n[a]\nc = 2\n",
        "",
    ],
)
def test_edge_cases_read_as_tomllib_reads_them(text: str) -> None:
    assert outcome(toml_text.loads, text) == outcome(tomllib.loads, text)


def test_offset_times_stay_picklable_for_the_rule_cache() -> None:
    value = toml_text.loads("a = 1979-05-27T07:32:00-08:00\n")
    assert pickle.loads(pickle.dumps(value)) == value


PIECES = st.sampled_from(
    [
        *"ab\"'=[]{},.#-+_:\\\t\n é",
        '"""',
        "'''",
        "\r\n",
        "1",
        "0x1F",
        "1e5",
        "true",
        "nan",
        "inf",
        "1979-05-27",
        "T07:32:00",
        "Z",
        "+01:00",
        "\\u00e9",
        "\x00",
        "\x7f",
    ]
)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(PIECES, max_size=30).map("".join))
def test_made_up_texts_read_or_fail_as_with_tomllib(text: str) -> None:
    assert outcome(toml_text.loads, text) == outcome(tomllib.loads, text)


SCALARS = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.text(),
    st.booleans(),
    st.datetimes(),
    st.datetimes(timezones=st.just(dt.UTC)),
    st.dates(),
    st.times(),
)
DOCS = st.recursive(
    st.dictionaries(st.text(min_size=1), SCALARS, max_size=4),
    lambda inner: st.dictionaries(
        st.text(min_size=1), inner | st.lists(SCALARS, max_size=3) | SCALARS, max_size=4
    ),
    max_leaves=20,
)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCS, st.booleans())
def test_written_documents_read_back_as_with_tomllib(doc: dict[str, Any], multiline: bool) -> None:
    text = tomli_w.dumps(doc, multiline_strings=multiline)
    assert outcome(toml_text.loads, text) == outcome(tomllib.loads, text)
