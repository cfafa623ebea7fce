"""Windows command-line splitting, the way Elastic's Sysmon pipeline does it.

`process.args` must match what Elastic stores, so rules written against Elastic data
(`process.args : "/i:*"`) behave the same here. Elastic follows the CommandLineToArgvW
rules with the "prior to 2008" treatment of `""` inside quotes, and treats the program
token like any other argument.
"""

from __future__ import annotations

_BLANKS = " \t"


def _read_arg(cmd: str, start: int) -> tuple[str, int]:
    """One argument starting at `start` (not a blank); returns it and where to go on."""
    out: list[str] = []
    in_quote = False
    slashes = 0
    i = start
    while i < len(cmd):
        c = cmd[i]
        if c in _BLANKS and not in_quote:
            break
        if c == "\\":
            slashes += 1
            i += 1
            continue
        if c == '"':
            out.append("\\" * (slashes // 2))
            if slashes % 2:
                out.append('"')
            else:
                if in_quote and cmd.startswith('"', i + 1):
                    out.append('"')
                    i += 1
                in_quote = not in_quote
            slashes = 0
            i += 1
            continue
        out.append("\\" * slashes)
        slashes = 0
        out.append(c)
        i += 1
    out.append("\\" * slashes)
    return "".join(out), i


def split_command_line(cmd: str) -> list[str]:
    """Split a Windows command line into argv (CommandLineToArgvW rules, as Elastic does)."""
    args: list[str] = []
    i = 0
    while i < len(cmd):
        if cmd[i] in _BLANKS:
            i += 1
            continue
        arg, i = _read_arg(cmd, i)
        args.append(arg)
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
