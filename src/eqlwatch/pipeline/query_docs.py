"""A kept line read only for the fields one query reads; the whole line when it is shown.

`query` parses every line its screen keeps, then most of them match nothing; orjson builds
the whole document of each, ~40 values, where the query reads six or so. msgspec decodes a
line into a `TypedDict` that names only those fields, under every key they can sit under
(`process.name` is `{"process": {"name": ...}}`, or `{"process.name": ...}`, as the
engine's readers look for both), and skips the rest without building it: the engine sees
the same values for every field it reads. The event keeps its line, and `identity.named`
parses it whole for the events of the answer only.

Where msgspec and orjson part ways, the line is left to orjson (`NdjsonScan._spanned`):
- a line holding a non-ASCII byte (msgspec does not check the UTF-8 of a value it skips);
- a block holding 19 digits in a row or an exponent of 3 digits: an integer out of 64-bit
  range (orjson makes a float of it, msgspec an int) or a number out of a double's range
  (orjson rejects the line, msgspec skips the number) may be there;
- a line whose fields are not objects where the type says so (`"process": "x"`, a list
  of objects), which is too deep for msgspec, or which is not a JSON object: msgspec
  refuses it, and orjson reads it as it reads any line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypedDict

import msgspec

# keys of an event document that mean it is not a plain `_source` (see `reader`)
ENVELOPE = ("_source", "_id", "id")
# one of them in a block: some number may read differently (see the module doc)
UNSAFE_NUMBERS = rb"[0-9]{19}|[0-9][eE][+-]?[0-9]{3}"
MAX_KEYS = 4096  # keys the type may name in all; more: lines are parsed whole

PartialDecode = Callable[[Any], dict[str, Any]]
_make: Any = TypedDict  # called with a computed field list (mypy wants a literal)


def partial_decoder(fields: Iterable[str]) -> PartialDecode | None:
    """`decode(line)`: the line's fields `fields` names (dotted), as orjson would read them
    and under every key the engine looks them up by, with `ENVELOPE` keys kept to tell a
    plain document; raises what msgspec raises for any other line. None: too many keys."""
    paths = {tuple(f.split(".")) for f in fields if f}
    paths |= {(key,) for key in ENVELOPE}
    count = [0]
    shape = _shape(paths, count)
    if count[0] > MAX_KEYS:
        return None
    decode: PartialDecode = msgspec.json.Decoder(shape).decode
    return decode


def _shape(paths: set[tuple[str, ...]], count: list[int]) -> Any:
    """A `TypedDict` holding each path under every split of its parts into dotted keys."""
    leaves: set[str] = set()
    below: dict[str, set[tuple[str, ...]]] = {}
    for path in paths:
        for cut in range(1, len(path) + 1):
            key = ".".join(path[:cut])
            if cut == len(path):
                leaves.add(key)
            else:
                below.setdefault(key, set()).add(path[cut:])
    count[0] += len(leaves | below.keys())
    if count[0] > MAX_KEYS:
        return Any
    keys: dict[str, Any] = dict.fromkeys(sorted(leaves), Any)
    for key in sorted(below.keys() - leaves):
        keys[key] = _shape(below[key], count)
    return _make("Fields", keys, total=False)
