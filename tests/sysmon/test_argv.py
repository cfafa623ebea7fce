"""Windows argv splitting: Elastic's rules, and a round trip with the quoting function."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eqlwatch.sysmon import join_command_line, quote_arg, split_command_line


@pytest.mark.parametrize(
    ("cmd", "args"),
    [
        ('"C:\\Windows\\system32\\notepad.exe" ', ["C:\\Windows\\system32\\notepad.exe"]),
        (
            "regsvr32.exe  /u /s /i:http://x/y scrobj.dll",
            ["regsvr32.exe", "/u", "/s", "/i:http://x/y", "scrobj.dll"],
        ),
        ("  /u\t/s  ", ["/u", "/s"]),
        ('a "" b', ["a", "", "b"]),
        ('"a b\\" c', ['a b" c']),  # \" is a literal quote
        ('a\\\\"b c" d', ["a\\b c", "d"]),  # 2n backslashes + quote: n backslashes, quote opens
        ('a\\\\\\"b', ['a\\"b']),  # 2n+1 backslashes + quote: n backslashes and a quote
        ("C:\\dir\\ x", ["C:\\dir\\", "x"]),  # backslashes not before a quote stay
        ('"a""b" c', ['a"b c']),  # "" inside quotes: a quote, and the quoting ends
        ("", []),
    ],
)
def test_split_examples(cmd: str, args: list[str]) -> None:
    assert split_command_line(cmd) == args


def test_quote_leaves_plain_words_alone() -> None:
    assert quote_arg("/s") == "/s"
    assert quote_arg("") == '""'
    assert quote_arg("a b") == '"a b"'
    assert quote_arg('say "hi"') == '"say \\"hi\\""'


_chars = st.sampled_from([*'ab \t"\\:/.', "é"])


@given(st.lists(st.text(_chars, max_size=12), max_size=6))
def test_round_trip(args: list[str]) -> None:
    assert split_command_line(join_command_line(args)) == args


@given(st.text(_chars, max_size=40))
def test_any_split_survives_a_round_trip(cmd: str) -> None:
    """Re-joining what was split splits the same way again (splitting is idempotent)."""
    args = split_command_line(cmd)
    assert split_command_line(join_command_line(args)) == args


def _per_character(cmd: str) -> list[str]:
    """The CommandLineToArgvW rules read one character at a time: the oracle the token
    splitter is held to."""
    args: list[str] = []
    i = 0
    while i < len(cmd):
        if cmd[i] in " \t":
            i += 1
            continue
        out: list[str] = []
        in_quote = False
        slashes = 0
        while i < len(cmd):
            c = cmd[i]
            if c in " \t" and not in_quote:
                break
            if c == "\\":
                slashes += 1
            elif c == '"':
                out.append("\\" * (slashes // 2))
                if slashes % 2:
                    out.append('"')
                else:
                    if in_quote and cmd.startswith('"', i + 1):
                        out.append('"')
                        i += 1
                    in_quote = not in_quote
                slashes = 0
            else:
                out.append("\\" * slashes + c)
                slashes = 0
            i += 1
        out.append("\\" * slashes)
        args.append("".join(out))
    return args


@given(st.text(st.sampled_from([*'ab \t"\\:/.\n', "é"]), max_size=60))
def test_token_split_is_the_per_character_split(cmd: str) -> None:
    assert split_command_line(cmd) == _per_character(cmd)


@pytest.mark.parametrize(
    "cmd",
    ['""""', '" "" "', 'a\\\\\\\\"b c"\\', '\\"\\\\"\\\\\\"', '"\t\t"x" "', "\\", '"'],
)
def test_token_split_on_quote_and_backslash_runs(cmd: str) -> None:
    assert split_command_line(cmd) == _per_character(cmd)
