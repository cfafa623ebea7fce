"""Byte strings a raw NDJSON line must contain before a rule's filter can match it.

`hunt` reads whole files where only a few lines concern the rule pack. For each filter of a
query (stages, `until`, missing events) this derives groups of needles — lower-cased bytes,
at least one of each group must occur in the lower-cased line — from what the filter's
top-level `and` requires:

- `field == "lit"`, `field in (...)`, `field in~ (...)`: the JSON string, quotes included
  (the engine compares strings only to strings when no mapping is given);
- `field : "pat"` / `like` / `like~`: the longest literal piece of each pattern (quoted at an
  unwildcarded end when only a string can match it);
- the event category: its quoted name.

The engine compares case-insensitively with `str.lower()`, which maps a few non-ASCII
characters to ASCII; so the screen only applies to pure-ASCII lines without `\\u`/`\\/`
escapes (every other line is parsed). Valid only for queries compiled without a mapping.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from eqlwatch.engine import CompiledQuery
from eqlwatch.engine.compiler import field_name
from eqlwatch.engine.parse import ParsedStage
from eqlwatch.engine.parse import nodes as A
from eqlwatch.engine.regex_pieces import may_start_with_brace, regex_pieces
from eqlwatch.engine.schema import CASELESS
from eqlwatch.engine.wildcard import compile_wildcards
from eqlwatch.sysmon.tables import SYSMON_EVENTS

Group = frozenset[bytes]  # at least one of these occurs in the lower-cased line


class Tied(frozenset[bytes]):
    """A raw-record group from tests on named fields: `fields` are the ECS fields a needle
    must be in for the test to hold (a screen that knows where each field comes from in a
    record may look only there; any other reader treats it as a plain group)."""

    fields: frozenset[str]

    def __new__(cls, needles: Iterable[bytes], fields: Iterable[str]) -> Tied:
        group = super().__new__(cls, needles)
        group.fields = frozenset(fields)
        return group


def _tied_union(groups: list[Group]) -> Group:
    """The union of an `or`'s picks: still tied when every pick is (to all their fields)."""
    union = frozenset().union(*groups)
    if all(isinstance(g, Tied) for g in groups):
        return Tied(union, (f for g in groups if isinstance(g, Tied) for f in g.fields))
    return union


class FieldGroup(frozenset[bytes]):
    """A group naming a field (one segment of its name): without a sample to count on, a
    literal the field is compared with is the better guess."""


# Characters of numbers and booleans as the engine renders them for `:` (no needle there).
_SCALAR_CHARS = frozenset("0123456789.+-eEtrufalsTRUFALS*?")
_WILDCARDS = ("$wildcard", "$wildcard~")
# An object value is matched as its Python text; pieces with its syntax get no needle.
_REPR_CHARS = frozenset("{}[]'")


def _quoted(value: str) -> bytes:
    return orjson.dumps(value).lower()


# Lead bytes of every multi-byte UTF-8 character: one of them is in any line that holds a
# non-ASCII character unescaped (a line with a `\\u` escape goes to every rule anyway).
NON_ASCII = frozenset(bytes([b]) for b in range(0xC2, 0xF5))
# Characters of a number's text as the engine renders it for `:` (`java_string`).
_NUMBER_CHARS = frozenset("0123456789.+-e")
_BOOLEAN_CHARS = frozenset("truefals")


def _may_be_scalar(pattern: str) -> bool:
    """Could `pattern` (any case) match the text of a number or boolean value?"""
    low = pattern.lower()
    chars = set(low) - {"*", "?"}
    if chars <= _NUMBER_CHARS:
        return True
    if not chars <= _BOOLEAN_CHARS:
        return False
    match = compile_wildcards([low], True)
    return match("true") or match("false")


def _may_be_object(pattern: str) -> bool:
    """Could `pattern` match an object's Python text (`{...}`)? Only if both ends can."""
    return pattern[:1] in ("*", "?", "{") and pattern[-1:] in ("*", "?", "}")


# Text of an object's Python form outside its strings: brackets, separators, None, True,
# False, numbers (a float's repr need not be its JSON text).
_OUTSIDE_STRINGS = frozenset("{}[],: 0123456789.+-enotrufals")
# Python writes DEL and non-printable non-ASCII characters of a string as escapes (`\\x7f`,
# `\\u202e`) where the JSON line holds the character itself: a piece of an object's text
# may come from such an escape only in a line holding one of these bytes.
_PY_ESCAPED = NON_ASCII | {b"\x7f"}


def _in_a_string(piece: str) -> bool:
    """Must `piece`, found in an object's Python text, lie in one of its strings? A quote
    would join a string and what is outside it."""
    low = piece.lower()
    return "'" not in low and '"' not in low and not set(low) <= _OUTSIDE_STRINGS


def _pattern_pieces(pattern: str) -> list[Group] | None:
    """A group per wildcard-free piece of a pattern (a matching string holds each piece),
    quoted at an anchored end; None: no needle is sound.

    A pattern whose lower-cased literal text is not ASCII needs a non-ASCII character in
    the value (ASCII text lower-cases to ASCII): `NON_ASCII`'s lead bytes. Where an
    object's Python text could match, only pieces that lie in one of its strings are used
    (`_in_a_string`), each also satisfied by `_PY_ESCAPED`."""
    if not pattern.lower().isascii():
        return [NON_ASCII]
    if not pattern.isascii() or _may_be_scalar(pattern):
        return None
    objects = _may_be_object(pattern)
    pieces = pattern.replace("?", "*").split("*")
    last = len(pieces) - 1
    found = []
    for i, piece in enumerate(pieces):
        if not piece or (objects and not _in_a_string(piece)):
            continue
        needle = orjson.dumps(piece)[1:-1].lower()
        needle = (b'"' if i == 0 else b"") + needle + (b'"' if i == last else b"")
        found.append(_PY_ESCAPED | {needle} if objects else frozenset({needle}))
    return found or None


def _longest(groups: list[Group]) -> Group:
    return max(groups, key=lambda g: max(len(n) for n in g))


def _pattern_groups(patterns: list[str]) -> list[Group]:
    """Groups a value matching one of `patterns` satisfies: for one pattern, a group per
    piece; for several, one: the union of each pattern's longest piece's group."""
    found = [_pattern_pieces(p) for p in patterns]
    if not all(found):
        return []
    if len(found) == 1 and found[0]:
        return found[0]
    return [frozenset().union(*(_longest(groups) for groups in found if groups))]


def _regex_needles(pattern: str) -> list[Group] | None:
    """A group per literal run every match of a regex holds (`regex_pieces`), or
    `NON_ASCII` when one of them is not ASCII; None when none is sound: the regex may
    match an object's text (it may start with `{`) or only a number's or boolean's."""
    found = regex_pieces(pattern)
    if found is None:
        return None
    pieces, first = found
    if may_start_with_brace(first):
        return None
    if not any(set(p.lower()) - _NUMBER_CHARS - _BOOLEAN_CHARS for p in pieces):
        return None  # a number's or boolean's text might match; any other piece proves a string
    if not all(p.isascii() for p in pieces):
        return [NON_ASCII]
    return [frozenset({orjson.dumps(p)[1:-1].lower()}) for p in pieces]


def _regex_groups(patterns: list[str]) -> list[Group]:
    """As `_pattern_groups`, for `regex` patterns."""
    found = [_regex_needles(p) for p in patterns]
    if not all(found):
        return []
    if len(found) == 1 and found[0]:
        return found[0]
    return [frozenset().union(*(_longest(groups) for groups in found if groups))]


def _is_text_field(node: Any, timestamp_field: str) -> bool:
    if not isinstance(node, A.Field):
        return False
    name = field_name(node)[0]
    if timestamp_field == RAW:
        return name in RAW_FIELDS or name.startswith("winlog.event_data.")
    return name != timestamp_field


def _raw_piece(pattern: str) -> bytes | None:
    """The longest wildcard-free piece of a pattern, as it is written inside a JSON string."""
    if not pattern.isascii() or set(pattern) <= _SCALAR_CHARS or _REPR_CHARS & set(pattern):
        return None
    piece = max(pattern.replace("?", "*").split("*"), key=len)
    return _unbraced(orjson.dumps(piece)[1:-1].lower())


def _unbraced(needle: bytes) -> bytes | None:
    """A raw needle without a leading `{` or trailing `}`: the normaliser writes GUIDs as
    `{UPPER}` whatever the record held (braces or not), and a piece of a value without its
    ends is still a piece of it."""
    return needle.removeprefix(b"{").removesuffix(b"}") or None


def _text(value: str, ts: str) -> bytes | None:
    """A literal's needle: quoted in an ECS line, bare (a piece of some value) in a record."""
    if ts != RAW:
        return _quoted(value)
    return _unbraced(orjson.dumps(value)[1:-1].lower())


def _texts(values: list[str], ts: str) -> Group | None:
    needles = [_text(v, ts) for v in values]
    return frozenset(n for n in needles if n) if all(needles) else None


def _string_literals(items: Iterable[Any]) -> list[str] | None:
    values = list(items)
    if not values or not all(isinstance(v, A.String) for v in values):
        return None
    return [v.value for v in values]


def _leaf_groups(node: Any, ts: str) -> list[Group]:
    """Groups implied by one comparison, membership or pattern test (else none); in an
    ECS line also the name of each field the test needs a value in."""
    if ts == RAW:
        tagged = _tag_group(node)
        if tagged is not None:
            return [tagged] if tagged else []
        return _value_groups(node, ts)
    return _value_groups(node, ts) + [g for f in _required_fields(node) for g in field_groups(f)]


# Tests that are never true when their field (first argument) has no value.
_NULL_FALSE_PATTERNS = frozenset({"$wildcard", "$wildcard~", "$regex", "$regex~", "$in~"})
# Functions that return null (or false) when any argument is null.
_NULL_OUT = frozenset({"startswith", "endswith", "stringcontains", "cidrmatch"})


def _non_null_literals(items: Iterable[Any]) -> bool:
    values = list(items)
    return bool(values) and all(
        isinstance(v, A.Literal) and not isinstance(v, A.Null) for v in values
    )


def _required_fields(node: Any) -> list[Any]:
    """Fields without whose value `node` cannot be true (the engine's null logic: `==` a
    non-null literal, ordering, `in`, patterns and string functions are not true on null;
    `!=` a literal is, so it requires nothing)."""
    if isinstance(node, A.IsNotNull):
        return [node.expr] if isinstance(node.expr, A.Field) else []
    if isinstance(node, A.Comparison):
        sides = (node.left, node.right)
        if node.comparator == "==":
            field, lit = sides if isinstance(node.left, A.Field) else sides[::-1]
            return [field] if isinstance(field, A.Field) and _non_null_literals([lit]) else []
        if node.comparator in ("<", "<=", ">", ">="):
            return [side for side in sides if isinstance(side, A.Field)]
        return []
    if isinstance(node, A.InSet):
        field = node.expression
        return [field] if isinstance(field, A.Field) and _non_null_literals(node.container) else []
    if isinstance(node, A.FunctionCall) and node.arguments:
        name, args = str(node.name), list(node.arguments)
        if name in _NULL_FALSE_PATTERNS:
            ok = isinstance(args[0], A.Field) and _non_null_literals(args[1:])
            return [args[0]] if ok else []
        if name.rstrip("~") in _NULL_OUT:
            return [a for a in args if isinstance(a, A.Field)]
    return []


def field_groups(node: Any) -> list[Group]:
    """One group per segment of a field's name: the text a JSON line holds where the field
    has a value, as nested objects (`"a":{"b":`) or dotted keys (`"a.b":`) or both. Each
    segment is a key of its own (quoted) or part of a dotted key (after `.` unless first,
    before `.` unless last)."""
    name, _ = field_name(node)
    if name.endswith(CASELESS) and len(name) > len(CASELESS):
        name = name[: -len(CASELESS)]  # read from its parent's value (FieldSchema.resolve)
    parts = name.lower().split(".")
    if not name.isascii() or not all(p and p.isprintable() for p in parts):
        return []
    if any(c in p for p in parts for c in '"\\'):
        return []
    last = len(parts) - 1
    groups: list[Group] = []
    for i, part in enumerate(parts):
        text = part.encode()
        lead = (b'"', b".") if i else (b'"',)
        trail = (b'"', b".") if i < last else (b'"',)
        groups.append(FieldGroup(a + text + b for a in lead for b in trail))
    return groups


def _value_groups(node: Any, ts: str) -> list[Group]:
    """Groups from the literals a comparison, membership or pattern test compares with; for
    raw records tied to the field tested (`Tied`)."""
    groups = _literal_groups(node, ts)
    if ts != RAW or not groups:
        return groups
    field = node.expression if isinstance(node, A.InSet) else _tested_field(node)
    if not isinstance(field, A.Field):
        return groups
    return [Tied(g, [field_name(field)[0]]) for g in groups]


def _tested_field(node: Any) -> Any:
    if isinstance(node, A.Comparison):
        return node.right if isinstance(node.left, A.String) else node.left
    if isinstance(node, A.FunctionCall) and node.arguments:
        return next(iter(node.arguments))
    return None


def _literal_groups(node: Any, ts: str) -> list[Group]:
    if isinstance(node, A.Comparison) and node.comparator == "==":
        left, right = node.left, node.right
        if isinstance(left, A.String):
            left, right = right, left
        if _is_text_field(left, ts) and isinstance(right, A.String):
            group = _texts([right.value], ts)
            return [group] if group else []
        return []
    if isinstance(node, A.InSet) and _is_text_field(node.expression, ts):
        values = _string_literals(node.container)
        group = _texts(values, ts) if values else None
        return [group] if group else []
    if isinstance(node, A.FunctionCall) and node.arguments:
        name, args = str(node.name), list(node.arguments)
        values = _string_literals(args[1:])
        if values is None or not _is_text_field(args[0], ts):
            return []
        if name == "$in~":  # a non-ASCII literal may equal ASCII text once lower-cased
            group = _texts(values, ts) if all(v.isascii() for v in values) else None
            return [group] if group else []
        if name in ("$regex", "$regex~") and ts != RAW:
            return _regex_groups(values)
        if name in _WILDCARDS:
            if ts == RAW:
                raw = [_raw_piece(v) for v in values]
                return [frozenset(n for n in raw if n)] if all(raw) else []
            return _pattern_groups(values)
    return []


def groups_of(node: Any, ts: str, sample: Sample | None = None) -> list[Group]:
    """Every group implied by `node` being true (an `or` needs a group in each branch)."""
    if isinstance(node, A.And):
        return [g for term in node.terms for g in groups_of(term, ts, sample)]
    if isinstance(node, A.Or):
        branches = [groups_of(term, ts, sample) for term in node.terms]
        if not all(branches):
            return []
        if ts == RAW:
            return [_tied_union([_best_raw(b, sample) for b in branches])]
        return [frozenset().union(*(best_group(b, sample) for b in branches))]
    return _leaf_groups(node, ts)


class Sample:
    """Lower-cased lines of the input, and which of them hold each needle (found once)."""

    def __init__(self, lines: list[bytes]) -> None:
        self.lines = lines
        self._holding: dict[bytes, frozenset[int]] = {}
        # One text searched with `bytes.find` from line to line: a needle absent from the
        # sample (most are) costs one search, not one per line. Lines are kept apart by a
        # NUL byte, which no needle holds.
        self._starts: list[int] = []
        offset = 0
        for line in lines:
            self._starts.append(offset)
            offset += len(line) + 1
        self._text = b"\0".join(lines)
        self._counts: dict[Group, int] = {}

    def holding(self, needle: bytes) -> frozenset[int]:
        found = self._holding.get(needle)
        if found is None:
            found = self._holding[needle] = frozenset(self._find(needle))
        return found

    def _find(self, needle: bytes) -> Iterator[int]:
        """Indexes of the lines holding `needle`, each once, in order."""
        if not needle or b"\0" in needle:
            yield from (i for i, line in enumerate(self.lines) if needle in line)
            return
        starts, find = self._starts, self._text.find
        at = find(needle)
        while at >= 0:
            line = bisect_right(starts, at) - 1
            yield line
            if line + 1 == len(starts):
                return
            at = find(needle, starts[line + 1])

    def prime(self, needles: Iterable[bytes]) -> None:
        """Find many needles at once (one Hyperscan pass over the sample), so ranking the
        groups of hundreds of rules does not search the sample once per needle."""
        todo = sorted({n for n in needles if n and b"\0" not in n} - self._holding.keys())
        if not todo:
            return
        try:
            import hyperscan
        except ImportError:
            return
        from eqlwatch.engine.hsdb_cache import compiled

        flags = [hyperscan.HS_FLAG_SINGLEMATCH] * len(todo)
        expressions = [b"".join(b"\\x%02x" % c for c in n) for n in todo]
        db = compiled(expressions, range(len(todo)), flags, hyperscan.HS_MODE_BLOCK)
        scratch = hyperscan.Scratch(db)
        lines: list[list[int]] = [[] for _ in todo]

        def on_match(ident: int, start: int, end: int, flags: int, context: object) -> None:
            lines[ident].append(context)  # type: ignore[arg-type]  # the line number

        for number, line in enumerate(self.lines):
            db.scan(line, match_event_handler=on_match, scratch=scratch, context=number)
        for needle, found in zip(todo, lines, strict=True):
            self._holding[needle] = frozenset(found)

    def count(self, group: Group) -> int:
        """How many sample lines hold at least one needle of `group`."""
        known = self._counts.get(group)
        if known is None:
            known = self._counts[group] = len(frozenset().union(*map(self.holding, group)))
        return known


def best_group(groups: list[Group], sample: Sample | None) -> Group:
    """The group fewest lines satisfy: counted on a sample, else longest shortest needle."""
    if sample:
        return min(groups, key=lambda g: (sample.count(g), len(g)))
    return max(
        groups,
        key=lambda g: (not isinstance(g, FieldGroup), min(len(n) for n in g), -len(g)),
    )


def _best_raw(groups: list[Group], sample: Sample | None = None) -> Group:
    """For raw records: one or two event ids first (a provider or channel name is in every
    record of its log), then the longest shortest literal, then wider event-id sets."""

    def rank(group: Group) -> tuple[int, int]:
        if all(n.startswith(b"<") for n in group):
            return (0 if len(group) <= 2 else 2, len(group))
        return (1, -min(len(n) for n in group))

    return min(groups, key=rank)


def filter_groups(stage: ParsedStage, ts: str, sample: Sample | None = None) -> list[Group]:
    """Groups for one filter: its category and its condition."""
    groups = groups_of(stage.condition, ts, sample)
    if stage.event_type != "any":
        groups.append(frozenset({_quoted(stage.event_type)}))
    return groups


def query_needles(query: CompiledQuery, sample: Sample | None = None) -> Group | None:
    """Needles one of which every line some filter may match contains; None: any line may.

    `sample` (lines of the input) is used only to pick selective groups.
    """
    parsed = query.parsed
    ts = query.settings.timestamp_field
    needles: set[bytes] = set()
    for stage in (*parsed.stages, *([parsed.until] if parsed.until else [])):
        groups = filter_groups(stage, ts, sample)
        if not groups:
            return None
        needles |= best_group(groups, sample)
    return minimal(needles)


def leaf_needles(query: CompiledQuery) -> set[bytes]:
    """Every needle any group of `query`'s filters could hold (to `Sample.prime`)."""
    ts = query.settings.timestamp_field
    found: set[bytes] = set()

    def walk(node: Any) -> None:
        if isinstance(node, A.And | A.Or):
            for term in node.terms:
                walk(term)
            return
        for group in _leaf_groups(node, ts):
            found.update(group)

    parsed = query.parsed
    for stage in (*parsed.stages, *([parsed.until] if parsed.until else [])):
        walk(stage.condition)
        found.add(_quoted(stage.event_type))
    return found


Screens = tuple[tuple[Group, ...], ...]  # per filter: groups that all hold, first the best
EXTRA_GROUPS = 3  # groups checked besides the best one, per filter
COMMON_SHARE = 4  # a group more than 1/COMMON_SHARE of the sample holds is not checked


def filters_groups(
    query: CompiledQuery, sample: Sample | None
) -> list[tuple[Group, list[Group]]] | None:
    """Per filter (stages, then `until`): its best group and all its groups, deduplicated;
    None when some filter has no group (any line may match it)."""
    parsed = query.parsed
    ts = query.settings.timestamp_field
    found = []
    for stage in (*parsed.stages, *([parsed.until] if parsed.until else [])):
        groups = list(dict.fromkeys(filter_groups(stage, ts, sample)))
        if not groups:
            return None
        found.append((best_group(groups, sample), groups))
    return found


def query_screens(query: CompiledQuery, sample: Sample | None = None) -> Screens | None:
    """Per filter, the group fewest lines hold and, with a sample, up to `EXTRA_GROUPS`
    more of its groups that few sample lines hold: a line some filter may match holds a
    needle of each of that filter's groups. None: any line may match."""
    found = filters_groups(query, sample)
    if found is None:
        return None
    screens: list[tuple[Group, ...]] = []
    for best, groups in found:
        kept = [best]
        if sample:
            common = len(sample.lines) // COMMON_SHARE
            rest = sorted((g for g in groups if g != best), key=lambda g: (sample.count(g), len(g)))
            kept += [g for g in rest if sample.count(g) <= common][:EXTRA_GROUPS]
        screens.append(tuple(kept))
    return tuple(screens)


# ECS fields the Sysmon normaliser fills with one record value (EventData, computer,
# provider, channel) or a piece of it, unchanged but for case: a literal such a field
# holds is then in the record's values. Others (categories, `process.args`, hives,
# numbers, addresses) are derived, so a test on them gives no needle in a raw record.
RAW_FIELDS = frozenset(
    f"{prefix}.{name}"
    for prefix, names in (
        ("process", ("executable", "command_line", "working_directory", "name", "entity_id")),
        ("process.parent", ("executable", "command_line", "name", "entity_id")),
        ("process.pe", ("original_file_name", "company", "description", "product")),
        ("file", ("path", "name", "directory", "extension")),
        ("file.pe", ("original_file_name", "company", "description", "product")),
        ("file.code_signature", ("subject_name", "status")),
        ("dll", ("path", "name")),
        ("dll.pe", ("original_file_name",)),
        ("dll.code_signature", ("subject_name", "status")),
        ("user", ("name", "domain")),
        ("host", ("name",)),
        ("rule", ("name",)),
        ("event", ("provider",)),
        ("winlog", ("computer_name", "channel", "provider_name")),
        ("source", ("domain",)),
        ("destination", ("domain",)),
        ("network", ("transport",)),
    )
    for name in names
)
RAW = "\0raw"  # passed as the timestamp field: no field has this name; raw-record mode


def event_tags(event_id: int, sysmon: bool) -> bytes:
    """Text `record_text` adds for the event id: what `event.code` and (Sysmon only)
    `event.category` are derived from."""
    return b"<eid:%d>" % event_id + (b"<sysmon:%d>" % event_id if sysmon else b"")


def _category_group(names: list[str]) -> Group:
    """Tags of the Sysmon events whose categories include one of `names` (any case)."""
    wanted = {n.lower() for n in names}
    return frozenset(
        b"<sysmon:%d>" % eid
        for eid, kind in SYSMON_EVENTS.items()
        if wanted & {c.lower() for c in kind.category}
    )


def _tag_group(node: Any) -> Group | None:
    """For `event.code`/`event.category` tests: their tags (empty: none usable); None when
    `node` tests neither field."""
    if isinstance(node, A.Comparison) and node.comparator == "==":
        field, values = node.left, [node.right]
        if isinstance(field, A.String):
            field, values = node.right, [node.left]
    elif isinstance(node, A.InSet):
        field, values = node.expression, list(node.container)
    elif isinstance(node, A.FunctionCall) and str(node.name) in ("$in~", *_WILDCARDS):
        field, values = (list(node.arguments) or [None])[0], list(node.arguments)[1:]
    else:
        return None
    if not isinstance(field, A.Field):
        return None
    name = field_name(field)[0]
    if name not in ("event.code", "event.category"):
        return None
    texts = _string_literals(values)
    if texts is None or any("*" in t or "?" in t or not t.isascii() for t in texts):
        return frozenset()
    if name == "event.code":
        return frozenset(b"<eid:%s>" % t.encode() for t in texts if t.isdigit())
    return _category_group(texts) or frozenset()


def raw_needles(query: CompiledQuery) -> Group | None:
    """Needles one of which a raw Windows record's values hold (ASCII case aside) for some
    filter of `query` to match its ECS form; None: any record may matter.

    Only tests on `RAW_FIELDS` and `winlog.event_data.*` give needles, as bare JSON string
    content (no quotes: the ECS value may be a piece of the record's value); the event
    category and `event.code` are derived from the event id, so they give the `event_tags`
    of the event ids they allow.
    """
    parsed = query.parsed
    needles: set[bytes] = set()
    by_category = query.settings.event_category_field == "event.category"
    for stage in (*parsed.stages, *([parsed.until] if parsed.until else [])):
        groups = groups_of(stage.condition, RAW)
        if stage.event_type != "any" and by_category:
            category = _category_group([stage.event_type])
            groups += [category] if category else []
        if not groups:
            return None
        needles |= _best_raw(groups)
    return minimal(needles)


def raw_filters(query: CompiledQuery) -> list[list[Group]]:
    """For each filter of `query` (stages, then `until`), every group a raw record must
    satisfy (one needle of each, literal pieces or event-id tags) for the filter to match
    its ECS form; an empty list: any record may match the filter."""
    parsed = query.parsed
    by_category = query.settings.event_category_field == "event.category"
    out: list[list[Group]] = []
    for stage in (*parsed.stages, *([parsed.until] if parsed.until else [])):
        groups = groups_of(stage.condition, RAW)
        if stage.event_type != "any" and by_category:
            category = _category_group([stage.event_type])
            groups += [category] if category else []
        out.append(groups)
    return out


def raw_hold_key(query: CompiledQuery) -> int | None:
    """The join-key position a raw record of a later stage can be screened on: a sequence
    without missing-event stages whose every filter is joined, at this position, on a field
    the normaliser copies from a record value (`RAW_FIELDS`, `winlog.event_data.*`), so the
    key's text is in the record. Prefers an entity id. None: no such position."""
    parsed = query.parsed
    filters = [*parsed.stages, *([parsed.until] if parsed.until else [])]
    if parsed.kind != "sequence" or any(s.missing for s in parsed.stages):
        return None
    if not all(s.keys for s in filters) or len({len(s.keys) for s in filters}) != 1:
        return None
    usable = [
        j
        for j in range(len(filters[0].keys))
        if all(_is_text_field(s.keys[j], RAW) for s in filters)
    ]
    if not usable:
        return None
    entity = [j for j in usable if field_name(filters[0].keys[j])[0].endswith("entity_id")]
    return (entity or usable)[0]


def minimal(needles: Iterable[bytes]) -> Group:
    """Drop needles that contain another one (any line with them has the shorter one)."""
    ordered = sorted(set(needles), key=len)
    kept: list[bytes] = []
    for n in ordered:
        if not any(k in n for k in kept):
            kept.append(n)
    return frozenset(kept)
