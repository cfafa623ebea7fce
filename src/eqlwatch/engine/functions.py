"""Elasticsearch EQL's functions and arithmetic, on plain Python values.

Null in, null out (except `concat`'s all-or-nothing and `cidrMatch`'s false). Integer
division and remainder truncate toward zero, as Java does. Multi-valued arguments use
their first value, because Elasticsearch evaluates functions on one value.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable
from typing import Any

from eqlwatch.engine.values import ip_int, java_string


def first(v: Any) -> Any:
    return v[0] if type(v) is list else v


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def add(a: Any, b: Any) -> Any:
    a, b = first(a), first(b)
    return a + b if _num(a) and _num(b) else None


def subtract(a: Any, b: Any) -> Any:
    a, b = first(a), first(b)
    return a - b if _num(a) and _num(b) else None


def multiply(a: Any, b: Any) -> Any:
    a, b = first(a), first(b)
    return a * b if _num(a) and _num(b) else None


def divide(a: Any, b: Any) -> Any:
    a, b = first(a), first(b)
    if not (_num(a) and _num(b)) or b == 0:
        return None
    if isinstance(a, int) and isinstance(b, int):
        q = abs(a) // abs(b)
        return q if (a >= 0) == (b >= 0) else -q
    return a / b


def modulo(a: Any, b: Any) -> Any:
    a, b = first(a), first(b)
    if not (_num(a) and _num(b)) or b == 0:
        return None
    if isinstance(a, int) and isinstance(b, int):
        r = abs(a) % abs(b)
        return r if a >= 0 else -r
    return math.fmod(a, b)


def _text(v: Any) -> str | None:
    v = first(v)
    return v if isinstance(v, str) else java_string(v)


def between(src: Any, left: Any, right: Any, greedy: Any = False, ci: bool = False) -> Any:
    s, lft, rgt = _text(src), _text(left), _text(right)
    if s is None or lft is None or rgt is None:
        return None
    hay = s.lower() if ci else s
    lo, ro = (lft.lower(), rgt.lower()) if ci else (lft, rgt)
    idx = hay.find(lo)
    if idx < 0:
        return ""
    start = idx + len(lo)
    end = hay.rfind(ro) if first(greedy) is True else hay.find(ro, start)
    if end < start:
        return ""
    return s[start:end]


def cidr_match(ip: Any, *cidrs: Any) -> Any:
    """Dynamic form; the compiler precomputes constant ranges instead."""
    ranges = cidr_ranges([c for c in cidrs if isinstance(c, str)])
    return ip_in_ranges(ip, ranges)


def cidr_ranges(cidrs: list[str]) -> tuple[tuple[int, int, int], ...]:
    out = []
    for c in cidrs:
        net = ipaddress.ip_network(c, strict=False)
        out.append((net.version, int(net.network_address), int(net.broadcast_address)))
    return tuple(out)


def ip_in_ranges(ip: Any, ranges: tuple[tuple[int, int, int], ...]) -> Any:
    if ip is None:
        return None
    values = ip if type(ip) is list else (ip,)
    for value in values:
        parsed = ip_int(value) if isinstance(value, str) else None
        if parsed is None:
            continue
        version, n = parsed
        for rv, lo, hi in ranges:
            if rv == version and lo <= n <= hi:
                return True
    return False


def concat(*args: Any) -> Any:
    parts = [_text(a) for a in args]
    if any(p is None for p in parts):
        return None
    return "".join(parts)  # type: ignore[arg-type]


def ends_with(s: Any, suffix: Any, ci: bool = False) -> Any:
    s, x = _text(s), _text(suffix)
    if s is None or x is None:
        return None
    return s.lower().endswith(x.lower()) if ci else s.endswith(x)


def starts_with(s: Any, prefix: Any, ci: bool = False) -> Any:
    s, x = _text(s), _text(prefix)
    if s is None or x is None:
        return None
    return s.lower().startswith(x.lower()) if ci else s.startswith(x)


def string_contains(s: Any, sub: Any, ci: bool = False) -> Any:
    s, x = _text(s), _text(sub)
    if s is None or x is None:
        return None
    return x.lower() in s.lower() if ci else x in s


def index_of(s: Any, sub: Any, start: Any = None, ci: bool = False) -> Any:
    s, x, st = _text(s), _text(sub), first(start)
    if s is None or x is None:
        return None
    begin = max(int(st), 0) if _num(st) else 0
    idx = s.lower().find(x.lower(), begin) if ci else s.find(x, begin)
    return idx if idx >= 0 else None


def length(s: Any) -> Any:
    s = _text(s)
    return None if s is None else len(s)


def number(s: Any, base: Any = None) -> Any:
    s, b = _text(s), first(base)
    if s is None:
        return None
    text = s.strip()
    try:
        if b is None or b == 10:
            try:
                return int(text)
            except ValueError:
                return float(text)
        b = int(b)
        if b == 16 and text.lower().startswith(("0x", "-0x")):
            text = text.replace("0x", "").replace("0X", "")
        return int(text, b)
    except (ValueError, TypeError):
        return None


def string(v: Any) -> Any:
    return _text(v)


def substring(s: Any, start: Any, end: Any = None) -> Any:
    s, st, en = _text(s), first(start), first(end)
    if s is None or not _num(st):
        return None
    return s[int(st) : int(en)] if _num(en) else s[int(st) :]


FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int, bool]] = {
    # name: (implementation, min args, max args, has a case-insensitive `~` form)
    "add": (add, 2, 2, False),
    "between": (between, 3, 4, True),
    "cidrmatch": (cidr_match, 2, 255, False),
    "concat": (concat, 1, 255, False),
    "divide": (divide, 2, 2, False),
    "endswith": (ends_with, 2, 2, True),
    "indexof": (index_of, 2, 3, True),
    "length": (length, 1, 1, False),
    "modulo": (modulo, 2, 2, False),
    "multiply": (multiply, 2, 2, False),
    "number": (number, 1, 2, False),
    "startswith": (starts_with, 2, 2, True),
    "string": (string, 1, 1, False),
    "stringcontains": (string_contains, 2, 2, True),
    "substring": (substring, 2, 3, False),
    "subtract": (subtract, 2, 2, False),
}
