"""One Sigma detection item (field, value) → one EQL comparison.

Sigma matches strings case-insensitively, so strings compare with `:` (case-insensitive,
`*`/`?` wildcards); a literal `*` or `?` cannot be written in an EQL wildcard, so such
values become a `regex~`. `cased` values use `like` / `regex`. Fields our normaliser
rewrites (Initiated → network.direction, User → user.domain/user.name, Hashes →
process.hash.*, registry DWORDs → decimal strings) get their values rewritten the same way.
"""

from __future__ import annotations

import ipaddress
import re

from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaType,
    SpecialChars,
)

from eqlwatch.sigma.regex import RegexError, to_lucene
from eqlwatch.sigma.taxonomy import BOOLEAN_FIELDS, IP_COPIES, IP_FIELDS, NUMERIC_FIELDS
from eqlwatch.sysmon.tables import DNS_STATUS


class ValueError_(ValueError):
    """A value this field cannot be compared with in EQL (the message says why)."""


_MULTI = "\x00*"  # markers for wildcards while a pattern is assembled
_SINGLE = "\x00?"
_DWORD = re.compile(r"(?i)DWORD \((0x[0-9A-F]{8})\)")
_QWORD = re.compile(r"(?i)QWORD \((0x[0-9A-F]{8})-(0x[0-9A-F]{8})\)")
_HASH = re.compile(r"(?i)(MD5|SHA1|SHA256|IMPHASH)=([0-9A-F]+)")
_COMPARE = {
    CompareOperators.LT: "<",
    CompareOperators.LTE: "<=",
    CompareOperators.GT: ">",
    CompareOperators.GTE: ">=",
    CompareOperators.NEQ: "!=",
}


def eql_string(text: str) -> str:
    """An EQL double-quoted string literal holding exactly `text`."""
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char == '"':
            out.append('\\"')
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) < 32:
            raise ValueError_(f"control character U+{ord(char):04X} in a value")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _parts(value: SigmaString) -> list[str]:
    """The value as text with wildcard markers (`\\x00*`, `\\x00?`) for special characters."""
    out: list[str] = []
    for part in value.s:
        if part is SpecialChars.WILDCARD_MULTI:
            out.append(_MULTI)
        elif part is SpecialChars.WILDCARD_SINGLE:
            out.append(_SINGLE)
        elif isinstance(part, str):
            out.append(part)
        else:
            raise ValueError_(f"placeholder {part} is not expanded (no placeholder values)")
    return out


def _string(field: str, value: SigmaString) -> str:
    parts = _parts(value)
    cased = isinstance(value, SigmaCasedString)
    literal = "".join(p for p in parts if p not in (_MULTI, _SINGLE))
    if "*" in literal or "?" in literal:
        # EQL wildcards cannot quote `*`/`?`: a Lucene regex says it exactly.
        rx = "".join(
            ".*" if p == _MULTI else "." if p == _SINGLE else "".join(_lucene_char(c) for c in p)
            for p in parts
        )
        return f"{field} {'regex' if cased else 'regex~'} {eql_string(rx)}"
    pattern = "".join("*" if p == _MULTI else "?" if p == _SINGLE else p for p in parts)
    return f"{field} {'like' if cased else ':'} {eql_string(pattern)}"


def _lucene_char(char: str) -> str:
    if char.isalnum() or char in " _" or ord(char) > 127:
        return char
    return "\\" + char


def _plain(value: SigmaType) -> str | None:
    """The value as plain text when it has no wildcard, else None."""
    if isinstance(value, SigmaString) and not value.contains_special():
        return str(value.to_plain())
    if isinstance(value, (SigmaNumber, SigmaBool)):
        return str(value.to_plain()).lower()
    return None


def _regex(field: str, value: SigmaRegularExpression) -> str:
    flags = value.flags
    unsupported = flags - {SigmaRegularExpressionFlag.IGNORECASE}
    if unsupported:
        names = ", ".join(sorted(f.name.lower() for f in unsupported))
        raise ValueError_(f"regex flag(s) {names} cannot be expressed")
    try:
        rx = to_lucene(
            str(value.regexp.to_plain()),
            ignore_case=SigmaRegularExpressionFlag.IGNORECASE in flags,
        )
    except RegexError as exc:
        raise ValueError_(f"regex {value.regexp.original!r}: {exc}") from None
    return f"{field} {'regex~' if rx.insensitive else 'regex'} {eql_string(rx.pattern)}"


def _ip(field: str, value: SigmaType) -> str:
    plain = _plain(value)
    if plain is not None:
        try:
            return f"{field} == {eql_string(str(ipaddress.ip_address(plain)))}"
        except ValueError:
            raise ValueError_(f"{plain!r} is not an IP address ({field} holds IPs)") from None
    if isinstance(value, SigmaString):
        parts = _parts(value)
        if len(parts) == 2 and parts[1] == _MULTI and _MULTI not in parts[0]:
            cidr = _prefix_cidr(parts[0])
            if cidr is not None:
                return f"cidrMatch({field}, {eql_string(cidr)})"
    raise ValueError_(f"wildcard {value} on an IP field ({field}): use the cidr modifier")


def _prefix_cidr(prefix: str) -> str | None:
    """`10.` → 10.0.0.0/8, `fe80:` → fe80::/16: a text prefix that is a whole-octet network."""
    if prefix.endswith(".") and ":" not in prefix:
        octets = prefix[:-1].split(".")
        if 1 <= len(octets) <= 3 and all(o.isdigit() and int(o) < 256 for o in octets):
            full = octets + ["0"] * (4 - len(octets))
            return f"{'.'.join(full)}/{8 * len(octets)}"
    if prefix.endswith(":") and not prefix.endswith("::"):
        groups = prefix[:-1].split(":")
        if 1 <= len(groups) <= 7 and all(re.fullmatch(r"[0-9a-fA-F]{4}", g) for g in groups):
            return f"{':'.join(groups)}::/{16 * len(groups)}"
    return None


def _number(field: str, value: SigmaType) -> str:
    plain = _plain(value)
    if plain is None or not plain.lstrip("-").isdigit():
        raise ValueError_(f"{value} is not a whole number ({field} holds numbers)")
    return f"{field} == {int(plain)}"


def _boolean(field: str, value: SigmaType) -> str:
    plain = _plain(value)
    if plain is None or plain.lower() not in ("true", "false"):
        raise ValueError_(f"{value} is not true or false ({field} holds booleans)")
    return f"{field} == {plain.lower()}"


def _choice(field: str, value: SigmaType, table: dict[str, str]) -> str:
    plain = _plain(value)
    if plain is None or plain.lower() not in table:
        raise ValueError_(f"{value} has no equivalent in {field} (one of {', '.join(table)})")
    return f"{field} == {eql_string(table[plain.lower()])}"


def _core(value: SigmaType) -> str | None:
    """The text of a plain, contains, startswith or endswith value (None: anything else)."""
    if not isinstance(value, SigmaString):
        return _plain(value)
    parts = _parts(value)
    while parts and parts[0] == _MULTI:
        parts.pop(0)
    while parts and parts[-1] == _MULTI:
        parts.pop()
    if any(p in (_MULTI, _SINGLE) for p in parts):
        return None
    return "".join(parts)


def _hash(prefix: str, value: SigmaType) -> str:
    core = _core(value)
    match = _HASH.fullmatch(core or "")
    if match is None:
        raise ValueError_(f"Hashes value {value} is not ALGO=digest (md5, sha1, sha256, imphash)")
    algo = match.group(1).lower()
    owner = prefix.rsplit(".", 1)[0]
    field = f"{owner}.pe.imphash" if algo == "imphash" else f"{prefix}.{algo}"
    return f"{field} : {eql_string(match.group(2).lower())}"


def _registry_data(field: str, value: SigmaType) -> str:
    """Details `DWORD (0x00000001)` is stored as "1"; `DWORD*` is `registry.data.type`."""
    plain = _core(value)
    prefix = isinstance(value, SigmaString) and len(value.s) == 2 and value.s[0] == plain
    if prefix and plain is not None and plain.upper() in ("DWORD", "QWORD"):
        return f"registry.data.type == {eql_string('SZ_' + plain.upper())}"
    if plain is not None:
        m = _DWORD.fullmatch(plain)
        if m is not None:
            return f"{field} : {eql_string(str(int(m.group(1), 16)))}"
        m = _QWORD.fullmatch(plain)
        if m is not None:
            number = (int(m.group(1), 16) << 32) + int(m.group(2), 16)
            return f"{field} : {eql_string(str(number))}"
    text = str(value).upper()
    if "DWORD" in text or "QWORD" in text:
        raise ValueError_(f"Details {value}: DWORD/QWORD patterns are stored as decimal numbers")
    if isinstance(value, SigmaString):
        return _string(field, value)
    return _generic(field, value)


def _user(value: SigmaType) -> str:
    """`DOMAIN\\NAME` is split by the normaliser into user.domain and user.name."""
    if not isinstance(value, SigmaString):
        raise ValueError_(f"User {value} is not a string")
    parts = _parts(value)
    lead = bool(parts) and parts[0] == _MULTI
    trail = bool(parts) and parts[-1] == _MULTI
    core = _core(value)
    if core is None:
        raise ValueError_(f"User {value}: wildcards inside the value cannot be split")
    if core.count("\\") > 1:
        raise ValueError_(f"User {value} has more than one backslash")
    if "\\" in core:
        domain, name = core.split("\\")
        left = ("*" if lead else "") + domain
        right = name + ("*" if trail else "")
        return f"(user.domain : {eql_string(left)} and user.name : {eql_string(right)})"
    pattern = ("*" if lead else "") + core + ("*" if trail else "")
    if lead and trail:
        return f"(user.domain : {eql_string(pattern)} or user.name : {eql_string(pattern)})"
    if trail:
        quoted = eql_string(pattern)
        return f"(user.domain : {quoted} or (user.domain == null and user.name : {quoted}))"
    return (
        f"user.name : {eql_string(pattern)}"
        if lead
        else f"(user.domain == null and user.name : {eql_string(pattern)})"
    )


def _generic(field: str, value: SigmaType) -> str:
    if isinstance(value, SigmaString):
        return _string(field, value)
    if isinstance(value, (SigmaNumber, SigmaBool)):
        return f"{field} : {eql_string(str(_plain(value)))}"
    raise ValueError_(f"value type {type(value).__name__} is not supported")


_NOT_STRINGS = NUMERIC_FIELDS | IP_FIELDS | BOOLEAN_FIELDS | {"user", "process.hash", "file.hash"}


def comparison(field: str, value: SigmaType) -> str:
    """The EQL for `field` compared with one Sigma value (a `ValueError_` says why not)."""
    if isinstance(value, SigmaExpansion):
        return "(" + " or ".join(comparison(field, v) for v in value.values) + ")"
    if isinstance(value, SigmaExists):
        if field == "user":
            return "user.name != null" if value.exists else "user.name == null"
        return f"{field} {'!=' if value.exists else '=='} null"
    if isinstance(value, SigmaNull):
        return "user.name == null" if field == "user" else f"{field} == null"
    if isinstance(value, SigmaFieldReference):
        raise ValueError_("fieldref (comparing two fields) is not supported by Elasticsearch EQL")
    if isinstance(value, SigmaRegularExpression):
        if field in _NOT_STRINGS:
            raise ValueError_(f"a regex on {field} (not a string field here) cannot be expressed")
        return _regex(field, value)
    if isinstance(value, SigmaCIDRExpression):
        field = IP_COPIES.get(field, field)
        if field not in IP_FIELDS:
            raise ValueError_(f"cidr on {field}, which holds no IP address")
        return f"cidrMatch({field}, {eql_string(str(value.network))})"
    if isinstance(value, SigmaCompareExpression):
        return f"{field} {_COMPARE[value.op]} {value.number.to_plain()}"
    if field in IP_FIELDS:
        return _ip(field, value)
    if field in NUMERIC_FIELDS:
        return _number(field, value)
    if field in BOOLEAN_FIELDS:
        return _boolean(field, value)
    if field == "network.direction":
        return _choice(field, value, {"true": "egress", "false": "ingress"})
    if field == "network.type":
        return _choice(field, value, {"true": "ipv6", "false": "ipv4"})
    if field in ("process.hash", "file.hash"):
        return _hash(field, value)
    if field == "sysmon.dns.status":
        plain = _plain(value)
        if plain is None:
            raise ValueError_(f"QueryStatus {value}: only exact codes can be mapped to names")
        return f"{field} == {eql_string(DNS_STATUS.get(plain, plain))}"
    if field == "registry.data.strings":
        return _registry_data(field, value)
    if field == "user":
        return _user(value)
    return _generic(field, value)
