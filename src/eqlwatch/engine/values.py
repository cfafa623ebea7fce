"""Elasticsearch's typed values: dates (ns precision), versions, IPs, and Java-style text.

Everything here is pure and fast enough to run per event: date strings go through a
hand-written ISO parser (stdlib `fromisoformat` stops at microseconds), IPs and versions
are cached because real logs repeat them.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache
from typing import Any

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000

_ISO = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[T ](\d{2})(?::(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?)?)?)?"
    r"(Z|z|[+-]\d{2}(?::?\d{2})?)?"
)


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


_DAYS: dict[str, int] = {}
_SECONDS: dict[str, int] = {}  # "YYYY-MM-DDTHH:MM:SS" -> epoch ns: logs repeat each second
_CACHE_LIMIT = 100_000


def _fast_iso(text: str) -> int | None:
    """`YYYY-MM-DDTHH:MM:SS[.fff[ffffff]]Z`, the shape nearly all logs use, without regex."""
    n = len(text)
    if text[n - 1] != "Z" or n < 20:
        return None
    head = text[:19]
    base = _SECONDS.get(head)
    if base is None:
        base = _iso_seconds(head)
        if base is None:
            return None
        if len(_SECONDS) < _CACHE_LIMIT:
            _SECONDS[head] = base
    if n == 20:
        return base
    if text[19] != "." or n > 30:
        return None
    try:
        return base + int(text[20 : n - 1].ljust(9, "0"))
    except ValueError:
        return None


def _iso_seconds(head: str) -> int | None:
    """Epoch ns of the 19-character `YYYY-MM-DDTHH:MM:SS` head of a date-time."""
    if head[10] != "T" or head[13] != ":" or head[16] != ":":
        return None
    day = head[:10]
    days = _DAYS.get(day)
    if days is None:
        if not (day[:4].isdigit() and day[4] == "-" and day[5:7].isdigit() and day[7] == "-"):
            return None
        if not day[8:10].isdigit() or len(_DAYS) > _CACHE_LIMIT:
            return None
        if not (1 <= int(day[5:7]) <= 12 and 1 <= int(day[8:10]) <= 31):
            return None
        days = _DAYS[day] = _days_from_civil(int(day[:4]), int(day[5:7]), int(day[8:10]))
    try:
        return (
            days * 86400 + int(head[11:13]) * 3600 + int(head[14:16]) * 60 + int(head[17:19])
        ) * NS_PER_S
    except ValueError:
        return None


fast_iso = _fast_iso  # for hot loops: None unless the common `...Z` shape


def parse_iso(text: str) -> int | None:
    """ISO-8601 date or date-time to epoch nanoseconds; None when it is not one."""
    if len(text) >= 20:
        fast = _fast_iso(text)
        if fast is not None:
            return fast
    m = _ISO.fullmatch(text)
    if m is None:
        return None
    year, month, day, hh, mm, ss, frac, tz = m.groups()
    mon, dd = int(month or 1), int(day or 1)
    if not (1 <= mon <= 12 and 1 <= dd <= 31):
        return None
    seconds = _days_from_civil(int(year), mon, dd) * 86400
    seconds += int(hh or 0) * 3600 + int(mm or 0) * 60 + int(ss or 0)
    if tz and tz not in ("Z", "z"):
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        offset = int(digits[:2]) * 3600 + (int(digits[2:4]) * 60 if len(digits) > 2 else 0)
        seconds -= sign * offset
    nanos = int(frac.ljust(9, "0")) if frac else 0
    return seconds * NS_PER_S + nanos


_JAVA_TOKENS = {
    "yyyy": r"(?P<y>\d{4})",
    "uuuu": r"(?P<y>\d{4})",
    "MM": r"(?P<mo>\d{2})",
    "dd": r"(?P<d>\d{2})",
    "HH": r"(?P<h>\d{2})",
    "mm": r"(?P<mi>\d{2})",
    "ss": r"(?P<s>\d{2})",
    "SSSSSSSSS": r"(?P<f>\d{9})",
    "SSSSSS": r"(?P<f>\d{6})",
    "SSS": r"(?P<f>\d{3})",
}
_JAVA_SPLIT = re.compile("|".join(sorted(map(re.escape, _JAVA_TOKENS), key=len, reverse=True)))


def _java_pattern(fmt: str) -> Callable[[str], int | None]:
    """A parser for a Java DateTimeFormatter pattern made of the common fields."""
    parts: list[str] = []
    pos = 0
    for m in _JAVA_SPLIT.finditer(fmt):
        parts.append(re.escape(fmt[pos : m.start()].replace("'", "")))
        parts.append(_JAVA_TOKENS[m.group(0)])
        pos = m.end()
    parts.append(re.escape(fmt[pos:].replace("'", "")))
    rx = re.compile("".join(parts))

    def parse(text: str) -> int | None:
        m = rx.fullmatch(text)
        if m is None:
            return None
        g = m.groupdict()
        secs = _days_from_civil(
            int(g.get("y") or 1970), int(g.get("mo") or 1), int(g.get("d") or 1)
        )
        secs = secs * 86400 + int(g.get("h") or 0) * 3600 + int(g.get("mi") or 0) * 60
        secs += int(g.get("s") or 0)
        frac = g.get("f")
        return secs * NS_PER_S + (int(frac.ljust(9, "0")) if frac else 0)

    return parse


def _epoch(unit_ns: int, digits: int) -> Callable[[str], int | None]:
    """`epoch_millis` / `epoch_second`: an integer count of the unit with an optional
    fraction (`131509374395.92178` ms), read exactly (a float would be off by tens of ns at
    current dates). Fraction digits below a nanosecond are dropped."""

    def parse(text: str) -> int | None:
        m = _EPOCH.fullmatch(text)
        if m is None:
            return None
        sign, whole, frac = m.groups()
        ns = int(whole) * unit_ns
        if frac:
            ns += int(frac[:digits].ljust(digits, "0")) * (unit_ns // 10**digits)
        return -ns if sign == "-" else ns

    return parse


_EPOCH = re.compile(r"([+-]?)(\d+)(?:\.(\d*))?")

_NAMED: dict[str, Callable[[str], int | None]] = {
    "epoch_millis": _epoch(NS_PER_MS, 6),
    "epoch_second": _epoch(NS_PER_S, 9),
}
for _name in (
    "strict_date_optional_time",
    "date_optional_time",
    "strict_date_optional_time_nanos",
    "strict_date_time",
    "date_time",
    "iso8601",
    "strict_date",
    "date",
):
    _NAMED[_name] = parse_iso

DEFAULT_DATE_FORMAT = "strict_date_optional_time||epoch_millis"


@lru_cache(maxsize=64)
def date_parser(fmt: str = DEFAULT_DATE_FORMAT, nanos: bool = False) -> Callable[[Any], int | None]:
    """A function from a source value (number or string) to epoch nanoseconds, per `format`.

    `nanos` is the field's resolution: a `date_nanos` keeps every digit; a `date` keeps
    milliseconds, as Elasticsearch stores it (`2024-01-01T00:00:00.123456789Z` is indexed
    as ...00.123Z: the sub-millisecond digits are dropped, rounding toward the past), so
    ordering, `maxspan` and comparisons see what Elasticsearch sees.
    """
    parsers = [_NAMED.get(f.strip()) or _java_pattern(f.strip()) for f in fmt.split("||")]
    default = fmt == DEFAULT_DATE_FORMAT

    def exact(value: Any) -> int | None:
        if type(value) is str and default:
            fast = _fast_iso(value) if len(value) >= 20 else None
            if fast is not None:
                return fast
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            if default:
                return value * NS_PER_MS
            value = str(value)
        elif isinstance(value, float):
            value = format(Decimal(repr(value)), "f")  # its shortest digits, no exponent
        if not isinstance(value, str):
            return None
        for p in parsers:
            result = p(value)
            if result is not None:
                return result
        return None

    if nanos:
        return exact

    def millis(value: Any) -> int | None:
        ns = exact(value)
        return None if ns is None else ns - ns % NS_PER_MS

    return millis


def fast_iso_ms(text: str) -> int | None:
    """`fast_iso` at a `date` field's millisecond resolution."""
    ns = _fast_iso(text)
    return None if ns is None else ns - ns % NS_PER_MS


def format_iso_ms(ns: int) -> str:
    """Epoch nanoseconds as Elasticsearch prints a date: `1970-01-01T00:00:00.000Z`."""
    secs, rem = divmod(ns, NS_PER_S)
    days, sod = divmod(secs, 86400)
    y, m, d = _civil_from_days(days)
    clock = f"{sod // 3600:02d}:{sod // 60 % 60:02d}:{sod % 60:02d}.{rem // NS_PER_MS:03d}"
    return f"{y:04d}-{m:02d}-{d:02d}T{clock}Z"


def _civil_from_days(z: int) -> tuple[int, int, int]:
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (m <= 2), m, d


_VERSION = re.compile(r"(\d+(?:\.\d+)*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?")


@lru_cache(maxsize=4096)
def version_key(text: str) -> tuple[Any, ...]:
    """Sort key of Elasticsearch's `version` type: semver order, invalid versions last."""
    m = _VERSION.fullmatch(text)
    if m is None:
        return (1, text)
    numbers = tuple(int(p) for p in m.group(1).split("."))
    pre = m.group(2)
    if pre is None:
        return (0, numbers, 1, ())
    ids = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (0, numbers, 0, ids)


def ip_int(text: str) -> tuple[int, int] | None:
    """(version, integer) of an IP address string, None if it is not one."""
    if ":" not in text:
        try:  # strict dotted quad: inet_pton rejects octal, hex and short forms
            return (4, int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big"))
        except (OSError, ValueError):
            return None
    return _ip6_int(text)


@lru_cache(maxsize=65536)
def _ip6_int(text: str) -> tuple[int, int] | None:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return (4, int(addr.ipv4_mapped))
    return (addr.version, int(addr))


@lru_cache(maxsize=65536)
def canonical_ip(text: str) -> str | None:
    """The canonical text of an IP (what Elasticsearch returns for an `ip` key)."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def java_string(value: Any) -> str | None:
    """`string()`/`concat()` text of a value, as Elasticsearch (Java) renders it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e7:
            return f"{value:.1f}"
        return repr(value)
    if isinstance(value, list):
        return java_string(value[0]) if value else None
    return str(value)


def sort_key(value: Any) -> tuple[int, Any]:
    """A total order over key values: null first, then booleans, numbers, text (code points)."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, value)
    if isinstance(value, int | float):
        return (2, value)
    if isinstance(value, str):
        return (3, value)
    return (4, repr(value))
