"""The note environment's fast paths render exactly what jinja's immutable sandbox renders.

Every shipped template is rendered with `make_environment` and with `reference_environment`
(jinja's own sandbox, same options and helpers) over the synthetic alert and the rule
pack's positive fixtures; text, or exception type and message, must match. Sandbox escapes
that the fast paths could open are tried one by one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jinja2 import Environment, pass_context
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.runtime import Context
from jinja2.sandbox import unsafe
from jinja2.utils import Namespace

from eqlwatch.engine import compile_query
from eqlwatch.enrich import Enricher, Enrichment, load_ip_table
from eqlwatch.model import Hit, HitEvent
from eqlwatch.notes.check import synthetic_enrichment, synthetic_hit, synthetic_rule
from eqlwatch.notes.env import ip_rows, make_environment, reference_environment
from eqlwatch.notes.render import alert_view, note_context
from eqlwatch.rules import load_rules
from eqlwatch.rules.model import Rule
from tests.rulepack.conftest import read_events

Outcome = tuple[str, ...]


def outcome(env: Environment, name: str, context: dict[str, Any]) -> Outcome:
    """The rendered text, or the exception's type and message."""
    try:
        return ("text", env.get_template(name).render(context))
    except Exception as exc:  # the comparison is the point: same error, same message
        return ("error", type(exc).__name__, str(exc))


def outcome_of(env: Environment, body: str, context: dict[str, Any]) -> Outcome:
    try:
        return ("text", env.from_string(body).render(context))
    except Exception as exc:
        return ("error", type(exc).__name__, str(exc))


@dataclass(frozen=True)
class Case:
    label: str
    rule: Rule
    hit: Hit
    enrichment: Enrichment | None


def _pack_cases(repo_root: Path, enricher: Enricher) -> Iterator[Case]:
    loaded = load_rules([repo_root / "queries"])
    assert loaded.ok, [str(e) for e in loaded.errors]
    for rule in loaded.rules:
        query = compile_query(rule.query, **rule.event_fields()._asdict())
        for fixture in rule.eqlwatch.fixtures:
            if fixture.kind != "positive":
                continue
            for n, hit in enumerate(query.run(read_events(repo_root / fixture.path))):
                sources = [e.source for e in hit.events if not e.missing]
                yield Case(f"{fixture.path}#{n}", rule, hit, enricher.enrich(sources))


def _odd_cases() -> Iterator[Case]:
    """Hits the shipped templates meet less often: sparse, flat, with a missing slot."""
    rule = synthetic_rule()
    sparse = Hit("event", (HitEvent("i", "a", {"@timestamp": "2025-01-01T00:00:00Z"}),))
    yield Case("sparse", rule, sparse, None)
    flat = {"process.name": "a.exe", "process.pid": 7, "host.name": "h", "user.name": "u"}
    yield Case("flat", rule, Hit("event", (HitEvent("i", "b", flat),)), None)
    hit = synthetic_hit()
    gap = Hit("sequence", (hit.events[0], HitEvent("", "", {}, missing=True), hit.events[3]))
    yield Case("gap", rule, gap, synthetic_enrichment(hit))


@pytest.fixture(scope="module")
def cases(repo_root: Path) -> list[Case]:
    hit = synthetic_hit()
    out = [Case("synthetic", synthetic_rule(), hit, synthetic_enrichment(hit))]
    out += _pack_cases(repo_root, Enricher(load_ip_table()))
    out += _odd_cases()
    return out


def _context(case: Case) -> dict[str, Any]:
    view = alert_view(
        "id-1",
        case.rule,
        case.hit,
        job_id="j",
        detected_at="2025-06-01T10:05:00Z",
        timestamp_field="@timestamp",
    )
    return note_context(case.rule, case.hit, case.enrichment, view)


def test_every_template_renders_as_the_reference_does(repo_root: Path, cases: list[Case]) -> None:
    folder = repo_root / "templates"
    fast, reference = make_environment(folder), reference_environment(folder)
    names = sorted(p.name for p in folder.glob("*.md.j2") if not p.name.startswith("_"))
    names.append("default.md.j2")  # packaged with eqlwatch, found through the same loader
    assert len(names) > 5
    assert len(cases) > 10
    rendered: dict[str, int] = dict.fromkeys(names, 0)
    for case in cases:
        context = _context(case)
        for name in names:
            want = outcome(reference, name, context)
            assert outcome(fast, name, context) == want, (name, case.label)
            rendered[name] += want[0] == "text"
    assert all(count >= len(cases) - 3 for count in rendered.values()), rendered


def _helper(value: Any = None) -> str:
    return f"<{value}>"


@unsafe
def _unsafe_helper() -> str:
    return "ran"


def _altering_helper() -> str:
    return "ran"


_altering_helper.alters_data = True  # type: ignore[attr-defined]


def _stopping_helper() -> str:
    raise StopIteration


@pass_context
def _context_helper(context: Context, key: str) -> Any:
    return context.get(key)


class _Holder:
    @unsafe
    def unsafe_method(self) -> str:
        return "ran"

    def method(self, x: int = 1) -> int:
        return x + 1


@pytest.fixture
def escape_context() -> dict[str, Any]:
    return {
        "helper": _helper,
        "unsafe_helper": _unsafe_helper,
        "altering_helper": _altering_helper,
        "stopping_helper": _stopping_helper,
        "context_helper": _context_helper,
        "holder": _Holder(),
        "ns": Namespace(fmt="{0.__class__.__mro__}".format, plain=3),
        "enrichment": Enrichment(ips=()),
        "items": [1, 2, 3],
        "data": {"a": {"b": 1}, "get": "item"},
        "full": synthetic_enrichment(synthetic_hit()),
    }


BLOCKED = [
    "{{ unsafe_helper() }}",
    "{{ altering_helper() }}",
    "{{ holder.unsafe_method() }}",
    "{{ ns.fmt(1) }}",  # str.format reached through a namespace still gets the sandbox's
    "{{ ns.__class__ }}",
    "{{ ns._Namespace__attrs }}",
    "{{ enrichment._document }}",
    "{{ enrichment.__class__.__mro__ }}",
    "{{ helper.__globals__ }}",
    "{{ helper.__code__ }}",
    "{{ holder.method.__func__ }}",
    "{{ items.append(4) }}",
    "{{ data.update({}) }}",
    "{% macro m() %}x{% endmacro %}{{ m._func }}",
    "{% macro m() %}x{% endmacro %}{{ m.__call__.__globals__ }}",
    '{% import "lib.j2" as lib %}{{ lib._body_stream }}',
    '{% import "lib.j2" as lib %}{{ lib.__dict__ }}',
    "{% for x in items %}{{ loop._iterable }}{% endfor %}",
    "{{ ip_rows(enrichment).append(1) }}",  # the shared document stays unchanged
    "{{ ip_rows(full).pop() }}",
    "{{ ip_rows(full)[0].update({'ip': 'x'}) }}",
    "{{ ip_rows(full)[0].clear() }}",
]


@pytest.mark.parametrize("body", BLOCKED)
def test_escapes_stay_blocked(tmp_path: Path, body: str, escape_context: dict[str, Any]) -> None:
    (tmp_path / "lib.j2").write_text("{% macro hello(n) %}hi {{ n }}{% endmacro %}")
    fast, reference = make_environment(tmp_path), reference_environment(tmp_path)
    got = outcome_of(fast, body, escape_context)
    assert got == outcome_of(reference, body, escape_context)
    assert got[0] == "error"
    assert got[1] in (SecurityError.__name__, UndefinedError.__name__)


SAME = [
    "{{ helper() }}{{ helper(1) }}{{ helper(value=2) }}",
    "{{ stopping_helper() is undefined }}",
    '{{ context_helper("items") }}',
    "{{ holder.method() }}|{{ holder.method(4) }}|{{ holder.method(x=5) }}",
    "{{ ns.plain }}|{{ ns.nope is undefined }}",
    "{% set n = namespace(a=1) %}{% set n.a = n.a + 1 %}{{ n.a }}",
    "{{ enrichment.public_ips() }}|{{ enrichment.ips }}",
    '{{ data.get("a") }}|{{ data.get }}|{{ data["get"] }}|{{ data.a.b }}',
    "{% macro m(a, b=2) %}{{ a }}{{ b }}{% endmacro %}{{ m(1) }}{{ m(1, 3) }}{{ m(b=4, a=0) }}",
    "{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, k=3) }}",
    "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}",
    "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, z=2) }}",
    "{% macro m() %}[{{ caller() }}]{% endmacro %}{% call m() %}in{% endcall %}",
    "{% macro m(x) %}{{ x }}{% endmacro %}{% for i in items %}{{ m(i) }}{% endfor %}",
    '{% import "lib.j2" as lib %}{{ lib.hello(1) }}{{ lib.nope is undefined }}',
    '{% from "lib.j2" import hello %}{{ hello("x") }}',
    "{% for x in items %}{{ loop.index }}{{ loop.cycle('a', 'b') }}{% endfor %}",
    '{% autoescape true %}{% macro m(a) %}{{ a }}{% endmacro %}{{ m("<b>") }}{% endautoescape %}',
    '{{ "{}-{}".format(1, 2) }}',
    "{{ range(3) | list }}",
]


@pytest.mark.parametrize("body", SAME)
def test_allowed_calls_and_lookups_match(
    tmp_path: Path, body: str, escape_context: dict[str, Any]
) -> None:
    (tmp_path / "lib.j2").write_text("{% macro hello(n) %}hi {{ n }}{% endmacro %}")
    fast, reference = make_environment(tmp_path), reference_environment(tmp_path)
    assert outcome_of(fast, body, escape_context) == outcome_of(reference, body, escape_context)


def test_fast_path_assumptions_hold() -> None:
    """What the fast paths rely on about jinja's and eqlwatch's types."""
    from collections import abc, deque
    from types import CodeType, FrameType, FunctionType, GeneratorType, MethodType

    from eqlwatch.notes import env as note_env

    assert note_env._MACRO_PLAIN  # otherwise every macro call takes the slow path
    assert Namespace in note_env._PLAIN_CLASSES
    unsafe_kinds = (abc.MutableSet, abc.MutableMapping, abc.MutableSequence, deque)
    internal_kinds = (FunctionType, MethodType, type, CodeType, FrameType, GeneratorType)
    for kind in note_env._ORDINARY:
        assert not issubclass(kind, unsafe_kinds + internal_kinds + (str,)), kind


def _calls(env: Environment) -> Callable[[str], str]:
    return lambda body: env.from_string(body).render(helper=_helper)


def test_a_helper_flagged_after_first_use_is_refused() -> None:
    """Nothing about a callable is cached: flags set later are seen on the next call."""
    env = make_environment(None)
    render = _calls(env)
    assert render("{{ helper(1) }}") == "<1>"
    _helper.unsafe_callable = True  # type: ignore[attr-defined]
    try:
        with pytest.raises(SecurityError):
            render("{{ helper(1) }}")
    finally:
        del _helper.unsafe_callable  # type: ignore[attr-defined]
    assert render("{{ helper(2) }}") == "<2>"


def test_ip_rows_are_the_enrichment_s_document_rows() -> None:
    enrichment = synthetic_enrichment(synthetic_hit())
    rows = ip_rows(enrichment)
    assert rows == enrichment.to_document()["ips"]
    assert len(rows) >= 2
    assert rows is enrichment.document()["ips"]  # built once per hit, not per template call
    assert ip_rows(list(rows)) == rows
    assert ip_rows(None) == []
