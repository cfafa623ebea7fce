"""`NoteCodeGenerator`: the same text and the same errors as jinja's own code, less work.

Random small templates (output, if, for, set, macros, subscripts, attributes, dict
readers, filters, tests) over random nested data are rendered by the note environment and
by jinja's immutable sandbox; the text, or the exception's type and message, must match.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jinja2 import Environment
from jinja2.exceptions import UndefinedError

from eqlwatch.notes.env import make_environment, reference_environment
from eqlwatch.notes.view import EventView

FAST = make_environment(None)
REFERENCE = reference_environment(None)
KEYS = ("a", "b", "name", "get", "items", "_x", "a.b", "0")
NAMES = ("x", "y", "z")


def outcome(env: Environment, body: str, data: dict[str, Any]) -> tuple[str, ...]:
    try:
        template = env.from_string(body)
    except Exception as exc:  # both generators must reject the same templates
        return ("compile", type(exc).__name__, str(exc))
    try:
        return ("text", template.render(data))
    except Exception as exc:
        return ("error", type(exc).__name__, str(exc))


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from(["", "s", "%s", "{x}", "a'b", "\\n", "é→", "100%"]),
)


def _dicts(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Mostly the keys templates ask for (else nearly every render stops at the first)."""
    always = dict.fromkeys(KEYS[:3], inner)
    return st.fixed_dictionaries(always, optional=dict.fromkeys(KEYS[3:], inner))


values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        _dicts(inner), _dicts(inner), st.lists(inner, max_size=3), _dicts(inner).map(EventView)
    ),
    max_leaves=5,
)
contexts = st.fixed_dictionaries({name: _dicts(values) for name in NAMES})


def _key() -> st.SearchStrategy[str]:
    return st.sampled_from(KEYS).map(repr)


def _operands() -> st.SearchStrategy[str]:
    """A name, then subscripts, attributes and dict readers on it."""

    def access(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.builds(lambda e, k: f"{e}[{k}]", inner, _key()),
            st.builds(lambda e, k: f"{e}.{k}", inner, st.sampled_from(("a", "b", "name", "get"))),
            st.builds(lambda e, k: f"{e}.get({k})", inner, _key()),
            st.builds(lambda e, k: f"{e}.get({k}, 'd')", inner, _key()),
        )

    return st.recursive(st.sampled_from(NAMES), access, max_leaves=3)


def expressions() -> st.SearchStrategy[str]:
    operand = _operands()
    literal = st.sampled_from(['"lit"', "1", "none", "''", '"%d"'])
    return st.one_of(
        operand,
        operand,
        st.builds(lambda e: f"{e}[0]", operand),
        st.builds(lambda e: f"({e}.items() | list)", operand),
        st.builds(lambda e, k: f'field({e}, {k}, "-")', operand, _key()),
        st.builds(lambda e, f: f"({e} | {f})", operand, st.sampled_from(FILTERS)),
        st.builds(lambda e, t: f"({e} is {t})", operand, st.sampled_from(TESTS)),
        st.builds(lambda a, b: f"({a} or {b})", operand, st.one_of(operand, literal)),
        st.builds(lambda a, b: f"({a} if {b} else 'no')", operand, operand),
    )


FILTERS = ("length", 'join(", ")', 'default("d")', "string", "list", "first", "join_nonempty")
TESTS = ("none", "not none", "defined", "undefined", "string", "mapping")


def statements(depth: int = 2) -> st.SearchStrategy[str]:
    text = st.sampled_from(["a", " % ", "{", "}}", "\n", "'q'", '"', "\\", "→", "%%s"])
    text = text.map(lambda s: "{% raw %}" + s + "{% endraw %}")
    output = st.builds(lambda e: "{{ " + e + " }}", expressions())
    leaf = st.one_of(text, output, output)
    if depth == 0:
        return leaf
    body = st.lists(statements(depth - 1), min_size=1, max_size=4).map("".join)
    return st.one_of(
        leaf,
        st.builds(
            lambda e, b, c: f"{{% if {e} %}}{b}{{% else %}}{c}{{% endif %}}",
            expressions(),
            body,
            body,
        ),
        st.builds(
            lambda e, b, c: f"{{% for v in {e} %}}{b}{{{{ v }}}}{{% else %}}{c}{{% endfor %}}",
            expressions(),
            body,
            body,
        ),
        st.builds(lambda e, b: f"{{% set x = {e} %}}{b}", expressions(), body),
        st.builds(
            lambda b, e: f"{{% macro m(x) %}}{b}{{% endmacro %}}{{{{ m({e}) }}}}",
            body,
            expressions(),
        ),
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.lists(statements(), min_size=1, max_size=3).map("".join), data=contexts)
def test_random_templates_render_as_the_reference_does(body: str, data: dict[str, Any]) -> None:
    assert outcome(FAST, body, data) == outcome(REFERENCE, body, data)


LIST = {"l": [{"k": 1}, {"k": None}, {"j": 2}]}


@pytest.mark.parametrize(
    ("body", "data"),
    [
        ("{{ d.k }}|{{ d['k'] }}|{{ d.get('k') }}", {"d": {"k": 1}}),
        ("{{ d.items() | list }}|{{ d.get }}|{{ d.keys() | list }}", {"d": {"get": 2}}),
        ("{{ d.k }}", {"d": {}}),
        ("{{ d['k'] }}", {"d": {}}),
        ("{{ d.k is defined }}{{ d['k'] is undefined }}", {"d": {}}),
        ("{{ d.get('k', 3) }}{{ d.values() | list }}", {"d": {"j": 1}}),
        ("{{ l[0] }}{{ l.k }}", {"l": [1]}),
        ("100% {{ x }} %s %% {{ y }}{x}", {"x": "%s", "y": "{}"}),
        ("{{ x }}{{ (1, 2) }}{{ y }}", {"x": (1,), "y": [None]}),
        ("{% set t %}a{{ x }}b{% endset %}[{{ t }}]", {"x": 1}),
        ("{% filter upper %}a{{ x }}{% endfilter %}", {"x": "b"}),
        ("{{ x.get('k') }}", {"x": None}),
        ("{% for v in l if v.k is not none %}{{ v.k }}{{ loop.index }}{% endfor %}", LIST),
        ("{% for v in l recursive %}{{ v.k }}{% endfor %}", LIST),
        ("{% macro m(a=l[0].k) %}{{ a }}{% endmacro %}{{ m() }}{{ m(2) }}", LIST),
        ("{% with q = l[1].k %}{{ q }}{{ q is none }}{% endwith %}", LIST),
        (
            "{% macro m() %}{{ caller(l[0]) }}{% endmacro %}"
            "{% call(x) m() %}{{ x.k }}{% endcall %}",
            LIST,
        ),
        ("{% set n = namespace(k=l[0].k) %}{% set n.k = n.k ~ 'x' %}{{ n.k }}", LIST),
        ("{{ x.get('k') }}", {"x": EventView({"k": {"j": 1}})}),
        # A missing field looked up by item falls back to the attribute, as in the sandbox.
        ("{{ x['get'] is defined }}{{ x['k']['get'] is defined }}", {"x": EventView({"k": {}})}),
        ("{{ x['nope'] is defined }}{{ x['_root'] is defined }}", {"x": EventView({})}),
        (
            "{% autoescape true %}<{{ x }}>{{ d.k }}{% endautoescape %}",
            {"x": "<&>", "d": {"k": "<"}},
        ),
    ],
)
def test_known_cases(body: str, data: dict[str, Any]) -> None:
    assert outcome(FAST, body, data) == outcome(REFERENCE, body, data)


def test_dict_reads_are_inline() -> None:
    """The fast paths are really in the generated code (else this module tests nothing new)."""
    source = FAST.compile('{{ d["k"] }}{{ d.k }}{{ d.get("k") }}{{ d.items() }}', raw=True)
    assert "is dict and 'k' in" in source
    assert ".get('k') if type(" in source
    assert "yield '%s%s%s%s' % (" in source
    plain = REFERENCE.compile('{{ d["k"] }}{{ d.k }}', raw=True)
    assert "is dict" not in plain


def _template_line(exc: BaseException, name: str) -> int | None:
    frames = traceback.extract_tb(exc.__traceback__)
    lines = [f.lineno for f in frames if f.filename.endswith(name)]
    return lines[-1] if lines else None


@pytest.mark.parametrize("body", ["a {{ x }}\nb\nc {{ d.k }}", "{{ x }}\n\n{{ x }}{{ d['k'] }}"])
def test_errors_point_at_their_template_line(body: str) -> None:
    lines = []
    for env in (FAST, REFERENCE):
        template = env.from_string(body)
        template.filename = template.name = "t.md.j2"
        with pytest.raises(UndefinedError) as caught:
            template.render(x=1, d={})
        lines.append(_template_line(caught.value, "t.md.j2"))
    assert lines[0] == lines[1] == 3


def test_none_test_inline_only_while_it_is_jinja_s_own() -> None:
    assert "is None)" in FAST.compile("{{ x is none }}{{ x is not none }}", raw=True)
    env = make_environment(None)
    env.tests["none"] = lambda value: value == 0  # a deployment's own test is honoured
    assert env.from_string("{{ 0 is none }}|{{ none is none }}").render() == "True|False"


def test_inheritance_and_includes_render_as_the_reference_does(tmp_path: Path) -> None:
    (tmp_path / "base.j2").write_text("[{% block b %}{{ d.k }}{% endblock %}]{{ d.get('k') }}")
    (tmp_path / "part.j2").write_text("{{ d['k'] }}|{{ d.j is defined }}")
    body = '{% extends "base.j2" %}{% block b %}{{ super() }}{% include "part.j2" %}{% endblock %}'
    (tmp_path / "child.j2").write_text(body)
    data = {"d": {"k": "v"}}
    fast, reference = make_environment(tmp_path), reference_environment(tmp_path)
    got = fast.get_template("child.j2").render(data)
    assert got == reference.get_template("child.j2").render(data) == "[vv|False]v"
