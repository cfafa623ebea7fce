"""Loading rule files: every problem is collected with its file, field and line.

One broken rule never stops the others: `load_rules` returns the good rules and a list of
errors, and the caller decides whether errors are fatal (`eqlwatch validate`) or logged and
skipped (the scheduler).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from eqlwatch.errors import ConfigError, EqlwatchError, Location, QueryError
from eqlwatch.rules.model import Rule

_TOML_POS = re.compile(r"\(at line (\d+), column (\d+)\)")
_HEADER = re.compile(r"^\s*\[")


@dataclass(frozen=True, slots=True)
class LoadResult:
    """The rules that loaded, and every error met on the way (in file order)."""

    rules: tuple[Rule, ...]
    errors: tuple[EqlwatchError, ...]

    @property
    def ok(self) -> bool:
        return not self.errors


def field_path(loc: tuple[int | str, ...]) -> str:
    """pydantic's error location as a dotted TOML path: `eqlwatch.fixtures[0].kind`."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def key_line(text: str, table: str, key: str) -> int | None:
    """1-based line of `key = ...` inside `[table]`, or None when it cannot be told."""
    lines = text.splitlines()
    inside = False
    header = re.compile(rf"^\s*\[\s*{re.escape(table)}\s*\]\s*(#.*)?$")
    assignment = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for number, line in enumerate(lines, start=1):
        if _HEADER.match(line) and not line.lstrip().startswith("[["):
            inside = header.match(line) is not None
        elif _HEADER.match(line):
            inside = False
        elif inside and assignment.match(line):
            return number
    return None


def _pydantic_errors(exc: ValidationError, file: str, text: str) -> list[EqlwatchError]:
    out: list[EqlwatchError] = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        name = field_path(loc)
        line = None
        if len(loc) == 2 and all(isinstance(p, str) for p in loc):
            line = key_line(text, str(loc[0]), str(loc[1]))
        message = str(err["msg"]).removeprefix("Value error, ")
        out.append(ConfigError(message, location=Location(file=file, line=line, field=name)))
    return out


def parse_rule(text: str, *, file: str) -> tuple[Rule | None, list[EqlwatchError]]:
    """Parse and validate one rule file's text (pure: no I/O, no query compilation)."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        pos = _TOML_POS.search(str(exc))
        line, col = (int(pos.group(1)), int(pos.group(2))) if pos else (None, None)
        message = _TOML_POS.sub("", str(exc)).strip()
        return None, [ConfigError(f"invalid TOML: {message}", location=Location(file, line, col))]
    if "rule" not in data:
        return None, [
            ConfigError("missing the [rule] table", location=Location(file, field="rule"))
        ]
    try:
        rule = Rule.model_validate({**data, "path": file})
    except ValidationError as exc:
        return None, _pydantic_errors(exc, file, text)
    return rule, []


def query_origin(text: str) -> tuple[int, int] | None:
    """(line, column offset) in the file where the query text's first character sits."""
    line = key_line(text, "rule", "query")
    if line is None:
        return None
    source = text.splitlines()[line - 1]
    match = re.match(r"^\s*query\s*=\s*('''|\"\"\"|'|\")", source)
    if match is None:
        return None
    rest = source[match.end() :]
    if match.group(1) in ("'''", '"""') and not rest.strip():
        return line + 1, 0
    return line, match.end()


def check_query(rule: Rule, text: str, *, file: str) -> list[EqlwatchError]:
    """Compile the rule's query with the embedded engine; errors point into the file."""
    from eqlwatch.engine import compile_query  # deferred: keeps rule parsing light

    try:
        compile_query(rule.query, **rule.event_fields()._asdict())
    except QueryError as exc:
        return [QueryError(exc.message, location=_query_location(exc, text, file))]
    return []


def _query_location(exc: QueryError, text: str, file: str) -> Location:
    where = exc.location
    origin = query_origin(text)
    if where is None or where.line is None or origin is None:
        return Location(file=file, field="rule.query")
    first_line, col_offset = origin
    column = where.column
    if column is not None and where.line == 1:
        column += col_offset
    return Location(file, first_line + where.line - 1, column, "rule.query")


def load_rule_text(
    text: str, *, file: str, compile: bool = True
) -> tuple[Rule | None, list[EqlwatchError]]:
    """Validate one rule's text, then (optionally) compile its query."""
    rule, errors = parse_rule(text, file=file)
    if rule is not None and compile:
        errors = check_query(rule, text, file=file)
        if errors:
            return None, errors
    return rule, errors


def rule_files(paths: Iterable[Path | str]) -> tuple[list[Path], list[EqlwatchError]]:
    """Expand files and directories (their `*.toml`, sorted) into rule files."""
    files: list[Path] = []
    errors: list[EqlwatchError] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(path.glob("*.toml")))
        elif path.is_file():
            files.append(path)
        else:
            errors.append(
                ConfigError("no such rule file or directory", location=Location(str(path)))
            )
    return files, errors


def load_rules(paths: Iterable[Path | str], *, compile: bool = True) -> LoadResult:
    """Load every rule under `paths`; broken or duplicate rules are reported and skipped."""
    files, errors = rule_files(paths)
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    for path in files:
        file = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(ConfigError(f"cannot read: {exc}", location=Location(file)))
            continue
        rule, problems = load_rule_text(text, file=file, compile=compile)
        errors.extend(problems)
        if rule is None:
            continue
        if rule.rule_id in seen:
            msg = f"duplicate rule_id {rule.rule_id!r} (first in {seen[rule.rule_id]})"
            where = Location(file, key_line(text, "rule", "rule_id"), None, "rule.rule_id")
            errors.append(ConfigError(msg, location=where))
            continue
        seen[rule.rule_id] = file
        rules.append(rule)
    return LoadResult(tuple(rules), tuple(errors))
