"""A Sigma rule file → the detection-rules data eqlwatch loads (the `Rule` model's input).

Metadata carries over: title → name, id → rule_id, level → severity and risk score,
`attack.*` tags → threat, falsepositives, references, description, author. An
`eqlwatch:` mapping in the Sigma file (a custom attribute) is the rule's `[eqlwatch]`
table (template, exceptions, fixtures), as in a TOML rule.
"""

from __future__ import annotations

import hashlib
from typing import Any

import yaml
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule, SigmaRuleBase

from eqlwatch.sigma.correlation import correlation_eql
from eqlwatch.sigma.files import SigmaConversionError
from eqlwatch.sigma.query import QueryError_, to_eql
from eqlwatch.sigma.taxonomy import LEVELS, TACTICS, WINDOWS_INDEX


def _threat(tags: list[str]) -> list[dict[str, Any]]:
    """`attack.execution` + `attack.t1218.010` → one threat entry per tactic.

    Sigma does not say which technique belongs to which tactic; the techniques go with the
    first tactic (ECS `threat.*` flattens them into parallel lists anyway).
    """
    names = (tag.removeprefix("attack.").replace("-", "_") for tag in tags)
    tactics = [TACTICS[t] for t in names if t in TACTICS]
    techniques: dict[str, list[str]] = {}
    for tag in tags:
        name = tag.removeprefix("attack.")
        if not tag.startswith("attack.") or name[:1] != "t" or not name[1:5].isdigit():
            continue
        ident = name.upper()
        parent, _, sub = ident.partition(".")
        subs = techniques.setdefault(parent, [])
        if sub and ident not in subs:
            subs.append(ident)
    out: list[dict[str, Any]] = []
    for i, (ident, name) in enumerate(dict.fromkeys(tactics)):
        entry: dict[str, Any] = {
            "framework": "MITRE ATT&CK",
            "tactic": {
                "id": ident,
                "name": name,
                "reference": f"https://attack.mitre.org/tactics/{ident}/",
            },
        }
        if i == 0 and techniques:
            entry["technique"] = [
                {
                    "id": tech,
                    "name": tech,
                    "reference": f"https://attack.mitre.org/techniques/{tech}/",
                    "subtechnique": [
                        {
                            "id": sub,
                            "name": sub,
                            "reference": "https://attack.mitre.org/techniques/"
                            + sub.replace(".", "/")
                            + "/",
                        }
                        for sub in subs
                    ],
                }
                for tech, subs in techniques.items()
            ]
        out.append(entry)
    return out


def _rule_id(rule: SigmaRuleBase, text: str) -> str:
    if rule.id is not None:
        return str(rule.id)
    return "sigma-" + hashlib.sha256(text.encode()).hexdigest()[:32]


def _eqlwatch_table(text: str) -> dict[str, Any] | None:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    table = raw.get("eqlwatch") if isinstance(raw, dict) else None
    return table if isinstance(table, dict) else None


def parse_sigma(text: str) -> SigmaRule:
    """pySigma's rule object; any problem is a `SigmaConversionError`."""
    try:
        rule = SigmaRule.from_yaml(text, collect_errors=True)
    except SigmaError as exc:
        raise SigmaConversionError(f"invalid Sigma rule: {exc}") from None
    except yaml.YAMLError as exc:
        raise SigmaConversionError(f"invalid YAML: {exc}") from None
    if rule.errors:
        raise SigmaConversionError(f"invalid Sigma rule: {rule.errors[0]}")
    return rule


def _correlation(text: str) -> tuple[SigmaRuleBase, str]:
    """A file with a correlation rule and the rules it names (YAML documents)."""
    try:
        collection = SigmaCollection.from_yaml(text)
        return correlation_eql(collection)
    except QueryError_ as exc:
        raise SigmaConversionError(str(exc), field="correlation") from None
    except SigmaError as exc:
        message = f"invalid Sigma correlation: {exc}"
        raise SigmaConversionError(message, field="correlation") from None
    except yaml.YAMLError as exc:
        raise SigmaConversionError(f"invalid YAML: {exc}") from None


def sigma_rule_data(text: str) -> dict[str, Any]:
    """The detection-rules TOML data (`metadata`, `rule`, `eqlwatch`) for one Sigma file."""
    rule: SigmaRuleBase
    if "\ncorrelation:" in f"\n{text}":
        rule, query = _correlation(text)
    else:
        rule = parse_sigma(text)
        try:
            query = to_eql(rule)
        except QueryError_ as exc:
            raise SigmaConversionError(str(exc), field="detection") from None
        except SigmaError as exc:
            message = f"invalid Sigma detection: {exc}"
            raise SigmaConversionError(message, field="detection") from None
    level = rule.level.name.lower() if rule.level is not None else "medium"
    severity, risk = LEVELS.get(level, ("medium", 47))
    tags = [str(t) for t in rule.tags]
    body: dict[str, Any] = {
        "rule_id": _rule_id(rule, text),
        "name": rule.title or "untitled Sigma rule",
        "description": (rule.description or rule.title or "").strip() or "(no description)",
        "type": "eql",
        "language": "eql",
        "query": query,
        "severity": severity,
        "risk_score": risk,
        "index": list(WINDOWS_INDEX),
        "tags": ["Sigma", *tags],
        "references": [str(r) for r in rule.references],
        "false_positives": [str(f) for f in rule.falsepositives],
    }
    if rule.author:
        body["author"] = [a.strip() for a in rule.author.split(",") if a.strip()]
    if rule.license:
        body["license"] = rule.license
    threat = _threat(tags)
    if threat:
        body["threat"] = threat
    metadata: dict[str, Any] = {"maturity": str(rule.status.name.lower()) if rule.status else None}
    if rule.date is not None:
        metadata["creation_date"] = rule.date.strftime("%Y/%m/%d")
    if rule.modified is not None:
        metadata["updated_date"] = rule.modified.strftime("%Y/%m/%d")
    metadata = {k: v for k, v in metadata.items() if v is not None}
    data: dict[str, Any] = {"metadata": metadata, "rule": body}
    table = _eqlwatch_table(text)
    if table is not None:
        data["eqlwatch"] = table
    return data
