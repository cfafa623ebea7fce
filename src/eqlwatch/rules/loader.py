"""Loading rule files: every problem is collected with its file, field and line.

One broken rule never stops the others: `load_rules` returns the good rules and a list of
errors, and the caller decides whether errors are fatal (`eqlwatch validate`) or logged and
skipped (the scheduler). Any exception met while reading, validating or compiling a rule
(a query nested too deep for Python's stack, a regex `re` rejects, an overflow) becomes that
rule's error. Rules of another Kibana type (kuery, ES|QL, threshold, ML...) are not errors:
they are counted as skipped, so a folder of Elastic's rules runs its EQL rules.
"""

from __future__ import annotations

import gc
import re
import tomllib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from eqlwatch.errors import ConfigError, EqlwatchError, Location, QueryError
from eqlwatch.rules import toml_text
from eqlwatch.rules.compiled import compile_rule, known_to_compile
from eqlwatch.rules.model import Rule
from eqlwatch.rules.stack import check_max_samples, check_stack_version
from eqlwatch.sigma.files import SIGMA_SUFFIXES, SigmaConversionError, is_sigma_file

# Kibana's other rule types: a detection-rules folder mixes them with EQL rules.
OTHER_TYPES = frozenset(
    {"query", "saved_query", "threshold", "threat_match", "machine_learning", "new_terms", "esql"}
)

_TOML_POS = re.compile(r"\(at line (\d+), column (\d+)\)")
_HEADER = re.compile(r"^\s*\[")


@dataclass(frozen=True, slots=True)
class Skipped:
    """A rule file of a type eqlwatch does not run (its `rule.type`)."""

    file: str
    type: str


@dataclass(frozen=True, slots=True)
class LoadResult:
    """The rules that loaded, every error met on the way (in file order), what was skipped."""

    rules: tuple[Rule, ...]
    errors: tuple[EqlwatchError, ...]
    skipped: tuple[Skipped, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors

    def skipped_summary(self) -> str:
        """`12 not EQL, skipped: 8 query, 4 esql`, or "" when nothing was skipped."""
        if not self.skipped:
            return ""
        counts = sorted(Counter(s.type for s in self.skipped).items(), key=lambda c: (-c[1], c[0]))
        kinds = ", ".join(f"{n} {kind}" for kind, n in counts)
        return f"{len(self.skipped)} not EQL, skipped: {kinds}"


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
    open_string: str | None = None  # the delimiter of a multi-line string being read
    for number, line in enumerate(lines, start=1):
        if open_string is not None:
            if line.count(open_string) % 2:
                open_string = None
            continue
        open_string = _opens_string(line)
        if _HEADER.match(line) and not line.lstrip().startswith("[["):
            inside = header.match(line) is not None
        elif _HEADER.match(line):
            inside = False
        elif inside and assignment.match(line):
            return number
    return None


def _opens_string(line: str) -> str | None:
    """The delimiter of a multi-line string this line opens and leaves open, if any.

    A Markdown `[link]` line inside a `note = '''...'''` is not a table header.
    """
    for delimiter in ("'''", '"""'):
        if line.count(delimiter) % 2:
            return delimiter
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
    rule, errors, _ = _parse_rule(text, file=file, skip_other_types=False)
    return rule, errors


def _parse_rule(
    text: str, *, file: str, skip_other_types: bool
) -> tuple[Rule | None, list[EqlwatchError], str | None]:
    """(rule, errors, skipped type): any exception is this file's error, never the caller's."""
    if is_sigma_file(file):
        return _parse_sigma(text, file=file)
    try:
        data: dict[str, Any] = toml_text.loads(text)
    except tomllib.TOMLDecodeError as exc:
        pos = _TOML_POS.search(str(exc))
        line, col = (int(pos.group(1)), int(pos.group(2))) if pos else (None, None)
        message = _TOML_POS.sub("", str(exc)).strip()
        error = ConfigError(f"invalid TOML: {message}", location=Location(file, line, col))
        return None, [error], None
    except RecursionError:
        return None, [ConfigError("invalid TOML: nested too deeply", location=Location(file))], None
    body = data.get("rule")
    if not isinstance(body, dict):
        where = Location(file, field="rule")
        message = "missing the [rule] table" if body is None else "[rule] must be a table"
        return None, [ConfigError(message, location=where)], None
    kind = body.get("type")
    if skip_other_types and isinstance(kind, str) and kind in OTHER_TYPES:
        return None, [], kind
    try:
        rule = Rule.model_validate({**data, "path": file})
    except ValidationError as exc:
        return None, _pydantic_errors(exc, file, text), None
    except Exception as exc:  # a validator bug is still this file's error
        message = f"cannot validate: {type(exc).__name__}: {exc}"
        return None, [ConfigError(message, location=Location(file))], None
    line = key_line(text, "metadata", "min_stack_version")
    stack_errors = check_stack_version(rule, file=file, line=line)
    samples_line = key_line(text, "eqlwatch", "max_samples_per_key")
    stack_errors += check_max_samples(rule, file=file, line=samples_line)
    if stack_errors:
        return None, stack_errors, None
    return rule, [], None


def _parse_sigma(text: str, *, file: str) -> tuple[Rule | None, list[EqlwatchError], None]:
    """A Sigma YAML file, converted to the rule data a TOML file would hold (eqlwatch.sigma)."""
    from eqlwatch.sigma.convert import sigma_rule_data  # pySigma: only for Sigma files

    try:
        data = sigma_rule_data(text)
    except SigmaConversionError as exc:
        where = Location(file, field=exc.field)
        return None, [ConfigError(f"Sigma rule not loaded: {exc.message}", location=where)], None
    except Exception as exc:  # pySigma's own slip is still this file's error
        message = f"Sigma rule not loaded: {type(exc).__name__}: {exc}"
        return None, [ConfigError(message, location=Location(file))], None
    try:
        return Rule.model_validate({**data, "path": file}), [], None
    except ValidationError as exc:
        return None, _pydantic_errors(exc, file, ""), None


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
    """Compile the rule's query (once per process, and not when an earlier process compiled
    the same text with the same options: only failures are news); errors point into the file.

    Whatever compiling raises is reported as the rule's query error: a thousand nested
    `and`/`or` exhaust Python's stack, a pattern may be one no engine accepts.
    """
    try:
        if not known_to_compile(rule):
            compile_rule(rule)
    except QueryError as exc:
        return [QueryError(exc.message, location=_query_location(exc, text, file))]
    except RecursionError:
        message = "query nested too deeply to compile (Python's recursion limit)"
        return [QueryError(message, location=_query_location(None, text, file))]
    except re.error as exc:
        message = f"invalid regular expression: {exc}"
        return [QueryError(message, location=_query_location(None, text, file))]
    except Exception as exc:  # one rule's failure must not stop the others
        message = f"query cannot be compiled: {type(exc).__name__}: {exc}"
        return [QueryError(message, location=_query_location(None, text, file))]
    return []


def _query_location(exc: QueryError | None, text: str, file: str) -> Location:
    where = exc.location if exc is not None else None
    origin = query_origin(text)
    if origin is None:
        return Location(file=file, field="rule.query")
    if where is None or where.line is None:
        return Location(file, origin[0], None, "rule.query")
    first_line, col_offset = origin
    column = where.column
    if column is not None and where.line == 1:
        column += col_offset
    return Location(file, first_line + where.line - 1, column, "rule.query")


def load_rule_text(
    text: str, *, file: str, compile: bool = True
) -> tuple[Rule | None, list[EqlwatchError]]:
    """Validate one rule's text, then (optionally) compile its query."""
    rule, errors, _ = _load_text(text, file=file, compile=compile, skip_other_types=False)
    return rule, errors


def _load_text(
    text: str, *, file: str, compile: bool, skip_other_types: bool
) -> tuple[Rule | None, list[EqlwatchError], str | None]:
    rule, errors, skipped = _parse_rule(text, file=file, skip_other_types=skip_other_types)
    if rule is not None and compile:
        errors = check_query(rule, text, file=file)
        if errors:
            return None, errors, None
    return rule, errors, skipped


def _load_cached(
    text: str, *, file: str, compile: bool
) -> tuple[Rule | None, list[EqlwatchError], str | None]:
    """`_load_text`, with rules (and skipped types) read back from the cross-process cache.

    A cached rule's query is still compiled in this process (its parse is cached too).
    """
    from eqlwatch.rules import cache

    known = cache.cached_rule(file, text)
    if isinstance(known, str):
        return None, [], known
    if isinstance(known, Rule):
        errors = check_query(known, text, file=file) if compile else []
        return (None, errors, None) if errors else (known, [], None)
    rule, errors, kind = _load_text(text, file=file, compile=compile, skip_other_types=True)
    if not errors and (rule is not None or kind is not None):
        cache.keep_rule(file, text, rule if rule is not None else str(kind))
    return rule, errors, kind


def _hidden(path: Path, root: Path) -> bool:
    """Dot-folders (`.git`, `.venv`) and caches under a folder hold no rules."""
    parts = path.relative_to(root).parts[:-1]
    return any(p.startswith(".") or p == "__pycache__" for p in parts)


def folder_files(root: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Files with these suffixes anywhere under `root` (sorted, hidden folders left out)."""
    found = (p for p in root.rglob("*") if p.suffix in suffixes and p.is_file())
    return sorted(p for p in found if not _hidden(p, root))


def rule_files(paths: Iterable[Path | str]) -> tuple[list[Path], list[EqlwatchError]]:
    """Expand files and folders (every `*.toml` and Sigma `*.yml` beneath, sorted) into rule files.

    A folder without a single `.toml` file is an error: a mistyped path must not look like
    a clean run.
    """
    files: list[Path] = []
    errors: list[EqlwatchError] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = folder_files(path, (".toml", *SIGMA_SUFFIXES))
            if not found:
                message = "no rule file (*.toml, Sigma *.yml) in this folder or below"
                errors.append(ConfigError(message, location=Location(str(path))))
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            errors.append(
                ConfigError("no such rule file or directory", location=Location(str(path)))
            )
    return list(dict.fromkeys(files)), errors


def load_rules(paths: Iterable[Path | str], *, compile: bool = True) -> LoadResult:
    """Load every rule under `paths`; broken or duplicate rules are reported and skipped.

    Rules of Kibana's other types are listed in `skipped`, not as errors. Many files not in
    the cache yet are read on every core first (`rules/parallel.py`). The cyclic collector
    is paused meanwhile: parsing hundreds of queries makes no reference cycles, yet set off
    collections costing 0.3-0.4 s of a cold `hunt` over detection-rules' Windows rules.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _load_rules(paths, compile=compile)
    finally:
        if enabled:
            gc.enable()


def _load_rules(paths: Iterable[Path | str], *, compile: bool) -> LoadResult:
    from eqlwatch.rules import cache, parallel

    files, errors = rule_files(paths)
    texts: list[tuple[str, str | EqlwatchError]] = []
    for path in files:
        try:
            texts.append((str(path), path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            texts.append(
                (str(path), ConfigError(f"cannot read: {exc}", location=Location(str(path))))
            )
    todo = [(f, t) for f, t in texts if isinstance(t, str) and not cache.has_rule(f, t)]
    done = parallel.load_shared(todo, lambda f, t: _load_cached(t, file=f, compile=compile))
    rules: list[Rule] = []
    skipped: list[Skipped] = []
    seen: dict[str, str] = {}
    for file, text in texts:
        if not isinstance(text, str):
            errors.append(text)
            continue
        try:
            known = done.get(file)
            rule, problems, kind = known or _load_cached(text, file=file, compile=compile)
        except Exception as exc:  # the last guard: this file's error only
            message = f"cannot load: {type(exc).__name__}: {exc}"
            errors.append(ConfigError(message, location=Location(file)))
            continue
        errors.extend(problems)
        if kind is not None:
            skipped.append(Skipped(file, kind))
        if rule is None:
            continue
        if rule.rule_id in seen:
            msg = f"duplicate rule_id {rule.rule_id!r} (first in {seen[rule.rule_id]})"
            where = Location(file, key_line(text, "rule", "rule_id"), None, "rule.rule_id")
            errors.append(ConfigError(msg, location=where))
            continue
        seen[rule.rule_id] = file
        rules.append(rule)
    cache.flush()  # what this load read afresh, in one transaction
    return LoadResult(tuple(rules), tuple(errors), tuple(skipped))
