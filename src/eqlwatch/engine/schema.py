"""Field types from Elasticsearch mappings, and fast per-field readers of `_source`.

A reader resolves aliases, walks dotted paths through objects or dotted keys, flattens
arrays (dropping nulls, as doc values do), applies `null_value`, and converts the value to
the field's type: dates to epoch nanoseconds (whole milliseconds for a `date`), IPs to
canonical text, numbers from strings. Without a mapping, the timestamp field is read as a
`date` and everything else as it is.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from eqlwatch.engine.values import DEFAULT_DATE_FORMAT, canonical_ip, date_parser
from eqlwatch.errors import DataError, Location

Reader = Callable[[Mapping[str, Any]], Any]

STRING_TYPES = frozenset({"keyword", "wildcard", "constant_keyword", "text", "match_only_text"})
NUMBER_TYPES = frozenset(
    {"long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float"}
    | {"unsigned_long"}
)
DATE_TYPES = frozenset({"date", "date_nanos"})
_MISSING = object()


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One mapped field: its Elasticsearch type and the options that change its values."""

    type: str
    null_value: Any = None
    format: str | None = None
    path: str | None = None  # alias target
    normalizer: str | None = None  # a keyword's: `lowercase` is applied (see `normalize`)
    source: str | None = None  # a multi-field: the field whose value it indexes
    ignore_above: int | None = None  # a keyword's: longer strings are not indexed


CASELESS = ".caseless"
# Elastic Defend's index templates add `<field>.caseless` (keyword, `lowercase` normalizer)
# to many endpoint fields; Sigma conversions and some Elastic rules query them. Without a
# mapping that declares one, `X.caseless` is read as that: X, lowercased.
INFERRED_CASELESS_NORMALIZER = "lowercase"


@dataclass(frozen=True, slots=True)
class FieldSchema:
    """Mapped fields of one index (`fields`), or of several indices by name (`indices`)."""

    fields: Mapping[str, FieldSpec] = field(default_factory=dict)
    indices: Mapping[str, FieldSchema] = field(default_factory=dict)

    def for_index(self, index: str) -> FieldSchema:
        return self.indices.get(index, self)

    def resolve(self, name: str) -> tuple[str, FieldSpec | None]:
        """Follow aliases to the concrete field name and its spec (None: not mapped).

        An unmapped `X.caseless` is inferred: a keyword multi-field of X with the
        `lowercase` normalizer, as Elastic Defend's templates declare them."""
        spec = self.fields.get(name)
        hops = 0
        while spec is not None and spec.type == "alias" and spec.path and hops < 8:
            name, spec, hops = spec.path, self.fields.get(spec.path), hops + 1
        if spec is None and name.endswith(CASELESS) and len(name) > len(CASELESS):
            parent = name[: -len(CASELESS)]
            spec = FieldSpec("keyword", normalizer=INFERRED_CASELESS_NORMALIZER, source=parent)
        return name, spec

    def all_specs(self) -> list[FieldSpec]:
        specs = list(self.fields.values())
        for sub in self.indices.values():
            specs.extend(sub.all_specs())
        return specs


def parse_mapping(doc: Mapping[str, Any]) -> FieldSchema:
    """Flatten a mapping document (`{"mappings": {"properties": ...}}` or `{"properties": ...}`)."""
    if "mappings" in doc:
        doc = doc["mappings"]
    fields: dict[str, FieldSpec] = {}
    _flatten(doc.get("properties", {}), "", fields)
    return FieldSchema(fields)


def _flatten(props: Mapping[str, Any], prefix: str, out: dict[str, FieldSpec]) -> None:
    for name, body in props.items():
        full = prefix + name
        if not isinstance(body, Mapping):
            continue
        if "properties" in body:
            _flatten(body["properties"], full + ".", out)
            continue
        out[full] = _spec(body, None)
        subfields = body.get("fields")
        if isinstance(subfields, Mapping):
            for sub, sub_body in subfields.items():
                if isinstance(sub_body, Mapping):
                    out[f"{full}.{sub}"] = _spec(sub_body, full)


def _spec(body: Mapping[str, Any], source: str | None) -> FieldSpec:
    ftype = str(body.get("type", "object"))
    if ftype.startswith("[runtime_random"):  # Elasticsearch QA placeholder: a string type
        ftype = "keyword"
    above = body.get("ignore_above")
    normalizer = body.get("normalizer")
    return FieldSpec(
        ftype,
        None if source else body.get("null_value"),
        body.get("format"),
        body.get("path"),
        normalizer if isinstance(normalizer, str) else None,
        source,
        above if isinstance(above, int) and not isinstance(above, bool) else None,
    )


def load_mapping(path: str | Path) -> FieldSchema:
    """Read a mapping file (JSON; lines starting with `#` are comments)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(
            f"cannot read mapping: {exc.strerror}", location=Location(file=str(p))
        ) from None
    body = "\n".join("" if line.lstrip().startswith("#") else line for line in text.splitlines())
    try:
        doc = json.loads(body)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"invalid mapping JSON: {exc.msg}", location=Location(str(p), exc.lineno, exc.colno)
        ) from None
    if not isinstance(doc, dict):
        raise DataError("mapping must be a JSON object", location=Location(file=str(p)))
    return parse_mapping(doc)


def _lookup(obj: Any, parts: list[str], i: int) -> Any:
    """Value at parts[i:] under obj, trying dotted keys (`"process.pid"`) and nesting."""
    if i == len(parts):
        return obj
    if isinstance(obj, Mapping):
        for j in range(len(parts), i, -1):
            key = parts[i] if j == i + 1 else ".".join(parts[i:j])
            if key in obj:
                found = _lookup(obj[key], parts, j)
                if found is not _MISSING:
                    return found
        return _MISSING
    if isinstance(obj, list):
        values = [v for v in (_lookup(item, parts, i) for item in obj) if v is not _MISSING]
        return values if values else _MISSING
    return _MISSING


def raw_reader(name: str) -> Callable[[Mapping[str, Any]], Any]:
    """A reader returning the raw source value (no conversion), or a private MISSING marker."""
    parts = name.split(".")
    if len(parts) == 1:
        return lambda src: src.get(name, _MISSING)
    first, second = parts[0], parts[1]

    dotted = [(".".join(parts[:j]), j) for j in range(len(parts), 1, -1)]

    def read(src: Mapping[str, Any]) -> Any:
        obj = src.get(first, _MISSING)
        if type(obj) is dict:
            v = obj.get(second, _MISSING) if len(parts) == 2 else _lookup(obj, parts, 1)
            if v is not _MISSING:
                return v
            # `_lookup(src, parts, 0)` without its last try, `first`'s object: just done
            for key, j in dotted:
                if key in src:
                    v = _lookup(src[key], parts, j)
                    if v is not _MISSING:
                        return v
            return _MISSING
        if name in src:
            return src[name]
        return _lookup(src, parts, 0)

    return read


def _flat(value: Any) -> Any:
    """Doc-values view of a source value: nested lists flattened, nulls dropped, [] -> None."""
    out: list[Any] = []
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, list):
            stack.extend(reversed(v))
        elif v is not None:
            out.append(v)
    if not out:
        return None
    return out


def _converter(spec: FieldSpec | None, is_timestamp: bool) -> Callable[[Any], Any] | None:
    if spec is None:
        return date_parser(DEFAULT_DATE_FORMAT) if is_timestamp else None
    if spec.type in DATE_TYPES:
        return date_parser(spec.format or DEFAULT_DATE_FORMAT, spec.type == "date_nanos")
    if spec.type == "ip":
        return lambda v: canonical_ip(v) if isinstance(v, str) else None
    if spec.type in NUMBER_TYPES:
        return _to_number
    if spec.type == "boolean":
        return _to_bool
    if spec.type in STRING_TYPES or spec.type == "version":
        return lambda v: v if isinstance(v, str) else _to_text(v)
    return None


def _to_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _to_number(v: Any) -> Any:
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return v
    if isinstance(v, str):
        try:
            return int(v)
        except ValueError:
            try:
                return float(v)
            except ValueError:
                return None
    return None


def _to_bool(v: Any) -> Any:
    if isinstance(v, bool):
        return v
    if v in ("true", "false"):
        return v == "true"
    return None


def field_type(schema: FieldSchema, name: str, timestamp_field: str) -> str | None:
    """The Elasticsearch type a reader converts to (None: inferred from the value)."""
    target, spec = schema.resolve(name)
    if spec is None:
        return "date" if target == timestamp_field or name == timestamp_field else None
    return spec.type


def normalize(normalizer: str, text: str) -> str:
    """A keyword normalizer on one value. `lowercase` is Lucene's LowerCaseFilter: each code
    point's own lowercase (Java's `Character.toLowerCase`: no final-sigma rule, `İ` -> `i`);
    other (custom) normalizers are not known here and leave the value as it is."""
    if normalizer != "lowercase":
        return text
    if text.isascii():
        return text.lower()
    return "".join(c.lower()[0] for c in text)


def _keyword_view(reader: Reader, spec: FieldSpec) -> Reader:
    """What a keyword with a normalizer and/or `ignore_above` indexes of `reader`'s value:
    strings normalized, strings longer than `ignore_above` not indexed (so absent)."""
    normalizer, above = spec.normalizer, spec.ignore_above

    def one(v: Any) -> Any:
        if type(v) is not str:
            v = _to_text(v)
        if above is not None and len(v) > above:
            return None
        return normalize(normalizer, v) if normalizer else v

    def read(src: Mapping[str, Any]) -> Any:
        v = reader(src)
        if v is None:
            return None
        if type(v) is list:
            return [x for x in map(one, v) if x is not None] or None
        return one(v)

    return read


def make_reader(schema: FieldSchema, name: str, timestamp_field: str) -> Reader:
    """A reader for field `name`: scalar, list of values (multi-valued) or None."""
    target, spec = schema.resolve(name)
    if spec is not None and spec.source is not None:
        # a multi-field indexes its parent's value; `source` is a concrete field name
        parent = make_reader(schema, spec.source, timestamp_field)
        if spec.type in STRING_TYPES and (spec.normalizer or spec.ignore_above is not None):
            return _keyword_view(parent, spec)
        return parent
    if spec is not None and spec.type in STRING_TYPES and spec.normalizer:
        return _keyword_view(_source_reader(target, spec, False), spec)
    return _source_reader(target, spec, target == timestamp_field or name == timestamp_field)


def _source_reader(target: str, spec: FieldSpec | None, is_timestamp: bool) -> Reader:
    """The field's `_source` value(s) converted to its type (see `make_reader`)."""
    raw = raw_reader(target)
    convert = _converter(spec, is_timestamp)
    null_value = spec.null_value if spec is not None else None

    def read(src: Mapping[str, Any]) -> Any:
        v = raw(src)
        if v is _MISSING:
            return None
        if v is None:
            v = null_value
            if v is None:
                return None
        if type(v) is list:
            v = (
                _flat(v)
                if null_value is None
                else _flat([null_value if x is None else x for x in v])
            )
            if v is None:
                return None
            if convert is not None:
                v = [c for c in map(convert, v) if c is not None] or None
            return v
        if convert is not None:
            return convert(v)
        return v

    if null_value is not None:
        return read
    if convert is not None:
        return _fast_converting_reader(target, convert, read)
    return _fast_reader(target, read)


def _fast_converting_reader(name: str, convert: Callable[[Any], Any], slow: Reader) -> Reader:
    """A top-level text value converted directly (the usual `@timestamp` string)."""
    if "." in name:
        return slow

    def read(src: Mapping[str, Any]) -> Any:
        v = src.get(name)
        if type(v) is str:
            return convert(v)
        return slow(src)

    if convert is date_parser(DEFAULT_DATE_FORMAT):
        _ISO_FIELDS[read] = name
    return read


_ISO_FIELDS: WeakKeyDictionary[Reader, str] = WeakKeyDictionary()


def iso_date_field(reader: Any) -> str | None:
    """The top-level field when `reader` turns its text into epoch ns with the default
    date format at millisecond resolution: an ISO text that `values.fast_iso` parses gives
    what `reader` gives, less its sub-millisecond digits."""
    try:
        return _ISO_FIELDS.get(reader)
    except TypeError:
        return None


_SCALARS = (str, int, float, bool)


_PATHS: WeakKeyDictionary[Reader, tuple[str, str]] = WeakKeyDictionary()


def object_path(reader: Any) -> tuple[str, str] | None:
    """(`a`, `b`) when `reader` returns `src[a][b]` unchanged whenever that is a scalar, so
    a hot closure may read it inline and call `reader` only for the other cases."""
    try:
        return _PATHS.get(reader)
    except TypeError:  # not weak-referenceable: not one of ours
        return None


def _dotted_keys(parts: list[str]) -> list[tuple[str, ...]]:
    """Per level of the nested walk `src[p0][p1]...`, the dotted keys another spelling of
    the field would use there (`"p0.p1"` at the top, `"p1.p2"` under `p0`, ...)."""
    return [
        tuple(".".join(parts[i:j]) for j in range(i + 2, len(parts) + 1)) for i in range(len(parts))
    ]


def _fast_reader(name: str, slow: Reader) -> Reader:
    """Plain scalar values under nested objects, read without the general machinery.

    A field most events lack (`process.parent.name` on a file event) is answered here too:
    when the nested walk ends at a missing key or a null and no object it passed holds a
    dotted key that spells the rest of the name another way, every spelling is missing and
    the value is None, which the general lookup would also give after trying them all."""
    parts = name.split(".")
    if len(parts) == 1:

        def read1(src: Mapping[str, Any]) -> Any:
            v = src.get(name)
            return v if type(v) in _SCALARS else slow(src)

        return read1
    dotted = _dotted_keys(parts)
    if len(parts) == 2:
        first, second = parts
        (top,) = dotted[0]

        def read2(src: Mapping[str, Any]) -> Any:
            o = src.get(first)
            if type(o) is dict:
                v = o.get(second)
                if type(v) in _SCALARS:
                    return v
                if v is None and top not in src:
                    return None
            elif o is None and top not in src:
                return None
            return slow(src)

        _PATHS[read2] = (first, second)
        return read2
    if len(parts) == 3:
        a, b, c = parts
        (ab, abc), (bc,), () = dotted

        def read3(src: Mapping[str, Any]) -> Any:
            o = src.get(a)
            if type(o) is dict:
                p = o.get(b)
                if type(p) is dict:
                    v = p.get(c)
                    if type(v) in _SCALARS:
                        return v
                    if v is None and bc not in o and ab not in src and abc not in src:
                        return None
                elif p is None and bc not in o and ab not in src and abc not in src:
                    return None
            elif o is None and ab not in src and abc not in src:
                return None
            return slow(src)

        return read3
    last = len(parts) - 1

    def read_n(src: Mapping[str, Any]) -> Any:
        o: Any = src
        for level, part in enumerate(parts):
            for key in dotted[level]:
                if key in o:
                    return slow(src)
            o = o.get(part)
            if level == last:
                return o if o is None or type(o) in _SCALARS else slow(src)
            if type(o) is not dict:
                return None if o is None else slow(src)
        return slow(src)  # pragma: no cover - the loop returns at the last part

    return read_n
