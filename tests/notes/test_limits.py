"""Render limits: hostile templates end fast with the fallback note; ordinary ones are untouched.

Each hostile body is one a template author could write by mistake or on purpose; each must
fail with a limit error (never hang, never allocate the value it asks for), leave the
fallback note and count one error. The sandbox must keep refusing the classic escapes.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest
import structlog

from eqlwatch.notes import NoteRenderer
from eqlwatch.notes.check import synthetic_enrichment, synthetic_hit, synthetic_rule
from eqlwatch.notes.limits import RenderLimits, TemplateLimitError, guarded
from eqlwatch.notes.render import DISABLE_AFTER, Note


@pytest.fixture
def templates(tmp_path: Path, repo_root: Path) -> Path:
    folder = tmp_path / "templates"
    shutil.copytree(repo_root / "templates", folder)
    return folder


def render(
    folder: Path, body: str, limits: RenderLimits | None = None
) -> tuple[NoteRenderer, Note]:
    (folder / "t.md.j2").write_text(body)
    renderer = NoteRenderer(folder, limits=limits)
    hit = synthetic_hit()
    return renderer, renderer.render(synthetic_rule("t.md.j2"), hit, synthetic_enrichment(hit))


HOSTILE = {
    "nested-output": "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}"
    "{% endfor %}",
    "nested-quiet": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}"
    "{% endfor %}",
    "multiply": "{{ 'a' * 10**9 }}",
    "list-multiply": "{{ ([1] * 10**9) | length }}",
    "power": "{{ 2 ** (10 ** 9) }}",
    "int-multiply": "{{ (2 ** 200000) * (2 ** 200000) }}",
    "concat-doubling": "{% set ns = namespace(s='ab') %}{% for i in range(60) %}"
    "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}",
    "plus-doubling": "{% set ns = namespace(s='ab') %}{% for i in range(60) %}"
    "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s | length }}",
    "macro-doubling": "{% macro f(s, n) %}{% if n %}{{ f(s ~ s, n - 1) }}{% else %}"
    "{{ s | length }}{% endif %}{% endmacro %}{{ f('a', 60) }}",
    "block-buffer": "{% set s = 'a' * 60000 %}{% set t %}{% for i in range(100000) %}{{ s }}"
    "{% endfor %}{% endset %}{{ t | length }}",
    "center-filter": "{{ 'a' | center(10**9) }}",
    "center-method": "{{ 'a'.center(10**9) }}",
    "ljust-method": "{{ 'a'.ljust(10**9) }}",
    "expandtabs": "{{ ('\t' * 100).expandtabs(10**7) }}",
    "str-format-width": "{{ '{:>1000000000}'.format('a') }}",
    "str-format-arg-width": "{{ '{:>{w}}'.format('a', w=10**9) }}",
    "percent-width": "{{ '%1000000000d' % 1 }}",
    "percent-star": "{{ '%*d' % (10**9, 1) }}",
    "format-filter": "{{ '%1000000000s' | format('a') }}",
    "replace-filter": "{{ ('a' * 60000) | replace('a', 'a' * 60000) }}",
    "replace-method": "{{ ('a' * 60000).replace('a', 'a' * 60000) }}",
    "join-filter": "{{ (['a' * 60000] * 10) | join }}",
    "join-method": "{{ ''.join(['a' * 60000] * 10) }}",
    "indent": "{{ ('\n' * 60000) | indent(60000) }}",
    "map-list": "{{ range(100000) | map('center', 60000) | list | length }}",
    "batch-fill": "{{ range(3) | batch(10**9, 'x') | list | length }}",
    "slice-count": "{{ range(3) | slice(10**9) | list | length }}",
    "recursion": "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
}


@pytest.mark.parametrize("body", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_template_falls_back_fast(templates: Path, body: str) -> None:
    started = time.monotonic()
    renderer, note = render(templates, body)
    elapsed = time.monotonic() - started
    assert note.error is not None
    assert renderer.errors == 1
    assert note.text.startswith("# Synthetic rule for template checks")
    assert "The note template failed" in note.text
    assert elapsed < 5, elapsed  # the limit is 1 s; 5 s leaves room for a busy machine


@pytest.mark.parametrize(
    "body",
    ["{{ 'a' * 10**9 }}", "{{ '%1000000000d' % 1 }}", "{{ 'a' | center(10**9) }}"],
)
def test_size_checks_happen_before_the_value_is_built(templates: Path, body: str) -> None:
    """Refused in microseconds: the gigabyte string is never allocated."""
    started = time.process_time()
    _, note = render(templates, body)
    assert note.error is not None
    assert "over the 65,536 limit" in note.error
    assert time.process_time() - started < 0.5


def test_timeout_is_reported_with_rule_and_template_and_counted(templates: Path) -> None:
    body = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    with structlog.testing.capture_logs() as logs:
        started = time.monotonic()
        renderer, note = render(templates, body, RenderLimits(timeout=0.2))
        elapsed = time.monotonic() - started
    assert note.error == "TemplateTimeoutError: t.md.j2: took longer than the 0.2 s limit"
    assert 0.2 <= elapsed < 3
    (entry,) = [e for e in logs if e["event"] == "note template failed"]
    assert entry["template"] == "t.md.j2"
    assert entry["rule"] == "00000000-0000-0000-0000-000000000000"
    assert entry["rule_name"] == "Synthetic rule for template checks"
    assert renderer.errors == 1


def test_a_template_that_keeps_timing_out_is_skipped(templates: Path) -> None:
    (templates / "slow.md.j2").write_text(
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    )
    renderer = NoteRenderer(templates, limits=RenderLimits(timeout=0.1))
    hit = synthetic_hit()
    rule = synthetic_rule("slow.md.j2")
    for _ in range(DISABLE_AFTER):
        assert "took longer" in (renderer.render(rule, hit).error or "")
    started = time.monotonic()
    skipped = renderer.render(rule, hit)
    assert time.monotonic() - started < 0.05
    want = f"TemplateLimitError: slow.md.j2: skipped after {DISABLE_AFTER} time-outs"
    assert skipped.error == want
    assert renderer.errors == DISABLE_AFTER + 1
    # Other templates of the same renderer still render.
    assert renderer.render(synthetic_rule(), hit).error is None


def test_output_limit_is_configurable(templates: Path) -> None:
    body = "{% for i in range(100) %}{{ '%05d' % i }}\n{% endfor %}"
    _, note = render(templates, body, RenderLimits(max_chars=1000))
    assert note.error is None
    assert note.text.count("\n") == 100
    _, note = render(templates, body, RenderLimits(max_chars=400))
    assert note.error == "TemplateLimitError: t.md.j2: note longer than the 400 chars limit"


def test_ordinary_templates_are_unchanged_by_the_limits(templates: Path) -> None:
    body = (
        "{{ '-' * 10 }}|{{ 2 ** 10 }}|{{ '%05.1f' % 3.14159 }}|{{ '{:>6}'.format('x') }}|"
        "{{ 'a' ~ 'b' ~ 1 }}|{{ [1, 2] + [3] }}|{{ 'ab' | center(6) }}|"
        "{{ ['x', 'y'] | join(',') }}|{{ 'aXa' | replace('X', 'yy') }}|"
        "{{ range(100000) | list | length }}|{{ range(5) | batch(2) | list | length }}|"
        "{% set ns = namespace(n=0) %}{% for i in range(3) %}{% set ns.n = ns.n + i %}"
        "{% endfor %}{{ ns.n }}|{{ 'a\tb'.expandtabs(4) }}|{{ ','.join(['p', 'q']) }}|"
        "{{ 'x'.zfill(3) }}|{{ '%s=%d' | format('k', 3) }}|{{ [3, 1, 2] | sort | list }}"
    )
    _, note = render(templates, body)
    assert note.error is None, note.error
    assert note.text == (
        "----------|1024|003.1|     x|ab1|[1, 2, 3]|  ab  |x,y|ayya|100000|3|3|a   b|p,q|"
        "00x|k=3|[1, 2, 3]"
    )


@pytest.mark.parametrize(
    "body",
    [
        "{{ cycler.__init__.__globals__ }}",
        "{{ joiner.__init__.__globals__['os'] }}",
        "{{ namespace.__init__.__globals__ }}",
        "{{ self._TemplateReference__context }}",
        "{{ self.__init__.__globals__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ (rule | attr('__class__')).__mro__ }}",
        "{{ '{0.__class__.__mro__}'.format(rule) }}",
        "{{ '{0.__globals__}'.format(field) }}",
        "{{ ''.format_map.__self__ }}",
        "{{ field.__globals__ }}",
        "{{ ip_rows.__code__.co_consts }}",
        "{{ range.__self__ }}",
        "{{ lipsum(1, False, 10**8, 10**8) }}",
        "{{ config.items() }}",
        "{{ request.application.__globals__ }}",
        "{{ events[0].__dict__ }}",
        "{{ loop.__class__ }}",
        "{% for x in range(1) %}{{ loop.__init__.__globals__ }}{% endfor %}",
        "{{ ns.__dict__ }}{% set ns = namespace() %}",
    ],
)
def test_classic_sandbox_escapes_still_fail(templates: Path, body: str) -> None:
    _, note = render(templates, body)
    assert note.error is not None
    assert "The note template failed" in note.text
    assert "__builtins__" not in note.text
    assert "<module" not in note.text


def test_no_late_timeout_lands_after_a_render(templates: Path) -> None:
    """Renders that finish near their deadline never see the timeout afterwards."""
    (templates / "busy.md.j2").write_text(
        "{% for i in range(100000) %}{% for j in range(20) %}{% endfor %}{% endfor %}ok"
    )
    renderer = NoteRenderer(templates, limits=RenderLimits(timeout=0.05))
    hit = synthetic_hit()
    rule = synthetic_rule("busy.md.j2")
    for _ in range(20):
        renderer.render(rule, hit)  # some time out, some finish just before
        renderer._timeouts.clear()
        spin = time.monotonic() + 0.08  # past any deadline that was still armed
        while time.monotonic() < spin:
            sum(range(100))


def test_limits_hold_per_thread(templates: Path) -> None:
    """A runaway render in one thread does not cut short a render in another."""
    (templates / "slow.md.j2").write_text(
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    )
    renderer = NoteRenderer(templates, limits=RenderLimits(timeout=0.3))
    hit = synthetic_hit()
    results: dict[str, str | None] = {}

    def slow() -> None:
        results["slow"] = renderer.render(synthetic_rule("slow.md.j2"), hit).error

    def quick() -> None:
        errors = {renderer.render(synthetic_rule(), hit).error for _ in range(200)}
        results["quick"] = next(iter(errors)) if len(errors) == 1 else "mixed"

    threads = [threading.Thread(target=slow), threading.Thread(target=quick)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results["quick"] is None
    assert results["slow"] is not None
    assert "took longer" in results["slow"]


def test_guarded_turns_a_pure_python_loop_into_a_limit_error() -> None:
    def forever() -> None:
        while True:
            pass

    started = time.monotonic()
    with pytest.raises(TemplateLimitError, match=r"took longer than the 0\.1 s limit"):
        guarded(RenderLimits(timeout=0.1), "loop", forever)
    assert time.monotonic() - started < 2
    assert guarded(RenderLimits(timeout=0.1), "quick", lambda: 42) == 42
