"""`regex`/`regex~` read as Lucene's RegExp (as Elasticsearch does), matched by RE2."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from eqlwatch.cli.app import app
from eqlwatch.engine import compile_query
from eqlwatch.engine.lucene import PatternError, compile_lucene, interval
from eqlwatch.errors import QueryError
from tests.rules.conftest import minimal_rule

CASES = [
    # Anchors and Python/PCRE group syntax are ordinary characters in Lucene.
    ("^abc$", "^abc$", False, True),
    ("^abc$", "abc", False, False),
    ("(?i)abc", "?iabc", False, True),
    ("(?i)abc", "ABC", False, False),
    ("(?:ab)", "?:ab", False, True),
    ("(?:ab)", "ab", False, False),
    # `.*?` is an optional `.*`: the same language, not a lazy quantifier.
    ("a.*?b", "axxb", False, True),
    ("a.*?b", "ab", False, True),
    # The whole value must match.
    ("abc", "xabcx", False, False),
    ("b", "abc", False, False),
    # `.` and negated classes match any character, newline included.
    (".", "\n", False, True),
    ("[^a-c]", "\n", False, True),
    ("[^a-c]", "b", False, False),
    # Predefined classes are ASCII-only; `\s` is space, tab, newline and return.
    ("\\d{2,3}", "123", False, True),
    ("\\d{2,3}", "1234", False, False),
    ("\\d", "٣", False, False),
    ("\\D", "٣", False, True),
    ("\\s", "\t", False, True),
    ("\\s", "\x0b", False, False),
    ("\\S", "\x0b", False, True),
    ("\\w+", "az_09AZ", False, True),
    ("\\w", "é", False, False),
    ("\\W", "é", False, True),
    ("[\\d_]+", "1_2", False, True),
    # Character classes and quantifiers.
    ("[a-c]+", "abcabc", False, True),
    ("[a-c]+", "abd", False, False),
    ("a{2}", "aa", False, True),
    ("a{2}", "aaa", False, False),
    ("a{2,}", "aaaaa", False, True),
    ("a{2,3}", "aaaa", False, False),
    ("a{0,1}b", "b", False, True),
    ("(ab)+", "ababab", False, True),
    ("a|bc", "bc", False, True),
    ("a|bc", "abc", False, False),
    # Quoted strings are literal; escapes quote one character.
    ('"a.b"', "a.b", False, True),
    ('"a.b"', "axb", False, False),
    ('"a.b"c+', "a.bcc", False, True),
    ('"(?i)"', "(?i)", False, True),
    ("\\.", ".", False, True),
    ("\\.", "a", False, False),
    ("\\\\", "\\", False, True),
    ("C:\\\\Windows\\\\.*", "C:\\Windows\\x.exe", False, True),
    ("\\*", "*", False, True),
    # A leading quantifier character is a literal.
    ("*a", "*a", False, True),
    ("+", "+", False, True),
    # Optional syntax Elasticsearch enables: `@` any string, `#` nothing, `()` empty string.
    ("@", "anything at all", False, True),
    ("#", "", False, False),
    ("a|#", "a", False, True),
    ("()", "", False, True),
    ("", "", False, True),
    ("", "a", False, False),
    # Numeric intervals: any leading zeros unless both ends have the same width.
    ("<1-100>", "42", False, True),
    ("<1-100>", "0042", False, True),
    ("<1-100>", "101", False, False),
    ("<1-100>", "0", False, False),
    ("<100-1>", "7", False, True),
    ("<01-10>", "05", False, True),
    ("<01-10>", "5", False, False),
    ("<01-10>", "11", False, False),
    ("v<0-255>", "v0", False, True),
    ("v<0-255>", "v256", False, False),
    # regex~: literal ASCII letters match both cases; ranges and classes do not widen.
    ("abc", "ABC", True, True),
    ("abc", "ABC", False, False),
    ("[abc]+", "ABC", True, True),
    ("[a-c]+", "ABC", True, False),
    ("[^a]", "A", True, False),
    ('"x.y"', "X.Y", True, True),
    ("é", "É", True, False),
    ("\\w+", "ABC", True, True),
    ("net1[ ]+localgroup", "NET1  LocalGroup", True, True),
]


@pytest.mark.parametrize(("pattern", "value", "insensitive", "expected"), CASES)
def test_lucene_syntax(pattern: str, value: str, insensitive: bool, expected: bool) -> None:
    assert compile_lucene([pattern], insensitive)(value) is expected


def test_any_of_several_patterns() -> None:
    match = compile_lucene(["a+", "b+", '"^"'], False)
    assert [v for v in ["aa", "bb", "ab", "^", ""] if match(v)] == ["aa", "bb", "^"]


def test_lone_surrogates_are_one_character_each() -> None:
    match = compile_lucene(["a.b"], False)
    assert match("a\ud800b")
    assert not match("a\ud800\udc00\ud800b")


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("a&b", "intersection '&' is not supported"),
        ("~a", "complement '~' is not supported"),
        ("a~b", "complement '~' is not supported"),
        ("<name>", "named automaton '<name>' is not supported"),
        ("[ab", "expected ']'"),
        ("(ab", "expected ')'"),
        ("ab)", "end of pattern expected"),
        ("a{2", "expected '}'"),
        ("a{x}", "integer expected"),
        ("a{3,2}", "out of order"),
        ("a{1001}", "above 1000"),
        ("[z-a]", "invalid range"),
        ("\\n", "invalid character class \\n"),
        ("\\", "unexpected end of pattern"),
        ("a|", "unexpected end of pattern"),
        ('"abc', "expected '\"'"),
        ("<1-2-3>", "interval syntax error"),
        ("<1->", "interval syntax error"),
        ("(" * 5000 + ")" * 5000, "nested too deeply"),
    ],
)
def test_invalid_patterns_name_the_pattern(pattern: str, message: str) -> None:
    with pytest.raises(PatternError) as err:
        compile_lucene([pattern], False)
    assert repr(pattern)[:40].rstrip("'") in str(err.value)
    assert message in str(err.value)


def test_a_pattern_too_big_for_re2_is_an_error() -> None:
    with pytest.raises(PatternError, match="cannot be compiled by RE2"):
        compile_lucene(["((((.{1,100}){1,100}){1,100}){1,100})"], False)


@pytest.mark.parametrize("op", ["regex", "regex~"])
def test_query_compile_reports_the_pattern(op: str) -> None:
    """A bad regex is the query's QueryError (the rule's error), raised at compile time."""
    with pytest.raises(QueryError, match=r"invalid regex 'cmd&x': .*intersection '&'"):
        compile_query(f'process where process.name {op} ("ok.*", "cmd&x")')
    with pytest.raises(QueryError, match=r"invalid regex 'C:\\\\x': invalid character class"):
        compile_query(f'process where process.name {op} "C:\\\\x"')


def test_python_only_syntax_compiles() -> None:
    """`(?i)` in a rule used to crash Python's `re`; Lucene reads it as two characters."""
    query = compile_query('any where x regex~ "(?i)powershell.exe" and y regex ".*(?=a)b"')
    assert query.info.kind == "event"


@pytest.mark.parametrize(
    ("lo", "hi", "digits"), [(0, 0, 1), (0, 9, 0), (7, 123, 0), (5, 1234, 4), (98, 1002, 0)]
)
def test_interval_is_exactly_the_range(lo: int, hi: int, digits: int) -> None:
    rx = re.compile(interval(lo, hi, digits))
    for n in range(max(0, lo - 50), hi + 50):
        plain, padded = str(n), str(n).zfill(max(digits, 6))
        if digits:
            assert bool(rx.fullmatch(str(n).zfill(digits))) is (lo <= n <= hi), n
            assert not rx.fullmatch("0" + str(n).zfill(digits))
        else:
            assert bool(rx.fullmatch(plain)) is (lo <= n <= hi), n
            assert bool(rx.fullmatch(padded)) is (lo <= n <= hi), n


ATOMS = ["a", "b", "B", ".", "[ab]", "[^a]", "[a-b]", "\\.", "\\d"]


def _common_regex(atoms: list[str] = ATOMS) -> st.SearchStrategy[str]:
    """Regexes in the syntax Lucene and Python's `re` share, with the same meaning."""
    atom = st.sampled_from(atoms)

    def grow(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        quantified = st.tuples(inner, st.sampled_from(["*", "+", "?", "{2}", "{1,2}", "{0,}"]))
        return st.one_of(
            st.lists(inner, min_size=2, max_size=3).map("".join),
            st.tuples(inner, inner).map(lambda p: f"{p[0]}|{p[1]}"),
            inner.map(lambda x: f"({x})"),
            quantified.map(lambda p: f"({p[0]}){p[1]}"),
        )

    return st.recursive(atom, grow, max_leaves=6)


@settings(max_examples=400)
@given(_common_regex(), st.text("ab.1\n", max_size=6))
def test_shared_syntax_agrees_with_re(pattern: str, value: str) -> None:
    # On ASCII text, where `\d` means the same in both.
    expected = re.fullmatch(pattern, value, re.DOTALL) is not None
    assert compile_lucene([pattern], False)(value) is expected


@settings(max_examples=300)
@given(_common_regex([a for a in ATOMS if "-" not in a]), st.text("abAB.1\n", max_size=6))
def test_insensitive_shared_syntax_agrees_with_re_ignorecase(pattern: str, value: str) -> None:
    """Without ranges (which Lucene does not widen), regex~ is `re`'s IGNORECASE on ASCII."""
    expected = re.fullmatch(pattern, value, re.DOTALL | re.IGNORECASE) is not None
    assert compile_lucene([pattern], True)(value) is expected


@pytest.mark.parametrize(
    ("pattern", "insensitive"), [(".*(a+)+b", False), (".*(a+)+b", True), ("(a|aa)*c", False)]
)
def test_catastrophic_patterns_are_linear(pattern: str, insensitive: bool) -> None:
    match = compile_lucene([pattern], insensitive)
    start = time.perf_counter()
    assert not match("a" * 32_767)
    assert match("a" * 32_766 + ("b" if "b" in pattern else "c"))
    assert time.perf_counter() - start < 0.5  # generous (bench/match_bench.py: < 1 ms)


def test_validate_reports_a_bad_regex_as_that_rules_error(tmp_path: Path) -> None:
    """Through the CLI: the bad rule is named with its pattern, the others load, no crash."""
    rules = {
        "bad": 'process where process.command_line regex "cmd.exe&x"',
        # `(?i)` mid-pattern crashed the whole run under Python's `re` (issue 12).
        "python_flags": 'process where process.command_line regex~ "powershell(?i).exe"',
        "good": 'process where process.command_line regex~ """.*\\\\AppData\\\\.*"""',
    }
    for name, query in rules.items():
        text = minimal_rule(name).replace('process where process.name : "regsvr32.exe"', query)
        (tmp_path / f"{name}.toml").write_text(text)
    result = CliRunner().invoke(app, ["validate", str(tmp_path)])
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 1, result.output
    assert len(errors) == 1, errors
    assert f"{tmp_path / 'bad.toml'}" in errors[0]
    assert "invalid regex 'cmd.exe&x'" in errors[0]
    assert "intersection '&'" in errors[0]
    assert "3 rule file(s)" in result.stdout
