"""Windows command-line splitting, the way Elastic's Sysmon pipeline does it.

`process.args` must match what Elastic stores, so rules written against Elastic data
(`process.args : "/i:*"`) behave the same here. Elastic follows the CommandLineToArgvW
rules with the "prior to 2008" treatment of `""` inside quotes, and treats the program
token like any other argument.
"""

from __future__ import annotations

import re

# A command line without quotes splits at blanks; with quotes it is read as tokens: blanks,
# backslashes ending in a quote, and runs of anything else (backslashes not before a quote
# are literal, so they stay in the run). Per token, not per character: this runs for every
# process event normalised.
_WORDS = re.compile(r"[^ \t]+")
_TOKENS = re.compile(r'([ \t]+)|(\\*)"|((?:[^ \t"\\]+|\\+(?![\\"]))+)')


def split_command_line(cmd: str) -> list[str]:
    """Split a Windows command line into argv (CommandLineToArgvW rules, as Elastic does):
    2n backslashes before a quote give n and the quote opens or closes quoting, 2n+1 give n
    and a literal quote; `""` inside quotes gives a quote and ends the quoting."""
    if '"' not in cmd:
        return _WORDS.findall(cmd)
    args: list[str] = []
    out: list[str] = []
    started = in_quote = skip = False
    for m in _TOKENS.finditer(cmd):
        blanks, slashes, run = m.groups()
        if skip:  # the second quote of a `""` inside quotes, already taken
            skip = False
            continue
        if blanks is not None:
            if in_quote:
                out.append(blanks)
            elif started:
                args.append("".join(out))
                out, started = [], False
            continue
        started = True
        if run is not None:
            out.append(run)
            continue
        out.append("\\" * (len(slashes) // 2))
        if len(slashes) % 2:
            out.append('"')
            continue
        if in_quote and cmd.startswith('"', m.end()):
            out.append('"')
            skip = True
        in_quote = not in_quote
    if started:
        args.append("".join(out))
    return args


def quote_arg(arg: str) -> str:
    """Quote one argument so that `split_command_line` gives it back unchanged."""
    if arg and not any(c in arg for c in ' \t"'):
        return arg
    out: list[str] = ['"']
    slashes = 0
    for c in arg:
        if c == "\\":
            slashes += 1
            continue
        if c == '"':
            out.append("\\" * (2 * slashes + 1) + '"')
        else:
            out.append("\\" * slashes + c)
        slashes = 0
    out.append("\\" * (2 * slashes) + '"')
    return "".join(out)


def join_command_line(args: list[str]) -> str:
    """The inverse of `split_command_line`: a command line that splits back into `args`."""
    return " ".join(quote_arg(a) for a in args)
