"""docker-compose.yml: the test profile starts without `.env`; production still needs it.

Compose interpolates every service of the file before it applies profiles, so one required
variable (`${X:?...}`) anywhere stops `--profile test` too. The file is read here the way
compose reads it (YAML values, `$$` an escaped dollar) and the production guard, a shell
check at the start of `certs`, is run with and without the passwords.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

# `${NAME}`, `${NAME:-default}`, `${NAME:?err}`...; a `$$` before it escapes it.
VARIABLE = re.compile(r"(?<!\$)\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+])?")


@pytest.fixture(scope="module")
def compose(repo_root: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((repo_root / "docker-compose.yml").read_text())
    return data


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def _variables(node: Any) -> list[tuple[str, str]]:
    return [(m["name"], m["op"] or "") for s in _strings(node) for m in VARIABLE.finditer(s)]


def test_the_pattern_sees_what_compose_interpolates() -> None:
    assert _variables({"a": "${A:?x}", "b": ["${B:-1}", "$${C:?escaped}"]}) == [
        ("A", ":?"),
        ("B", ":-"),
    ]


def test_no_variable_is_required_at_interpolation(compose: dict[str, Any]) -> None:
    required = [(n, op) for n, op in _variables(compose) if op in (":?", "?")]
    assert required == []


def test_the_test_profile_needs_no_variable(compose: dict[str, Any]) -> None:
    services = compose["services"]
    profiled = [s for s in services.values() if "test" in s.get("profiles", [])]
    assert profiled
    for service in profiled:
        for name, op in _variables(service):
            assert op in (":-", "-"), f"{name} has no default in the test profile"
        for dependency in service.get("depends_on", {}):
            assert "test" in services[dependency].get("profiles", []), dependency


def _certs_guard(compose: dict[str, Any]) -> str:
    """The lines of the certs script before it starts work, with compose's `$$` undone."""
    script: str = compose["services"]["certs"]["command"][2]
    head = script.split("cd config/certs", 1)[0]
    return head.replace("$$", "$")


PASSWORDS = {"ELASTIC_PASSWORD": "abc123", "KIBANA_PASSWORD": "def456"}
KEY_NAMES = ("KIBANA_SAVED_OBJECTS_KEY", "KIBANA_SECURITY_KEY", "KIBANA_REPORTING_KEY")
KEYS = dict.fromkeys(KEY_NAMES, "k" * 32)


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({}, "ELASTIC_PASSWORD"),
        ({"ELASTIC_PASSWORD": "abc123"}, "KIBANA_PASSWORD"),
        ({"ELASTIC_PASSWORD": "", "KIBANA_PASSWORD": "k"}, "ELASTIC_PASSWORD"),
        (PASSWORDS, "KIBANA_SAVED_OBJECTS_KEY"),
        ({**PASSWORDS, **KEYS, "KIBANA_SECURITY_KEY": "k" * 31}, "KIBANA_SECURITY_KEY"),
        ({**PASSWORDS, **KEYS}, None),
    ],
)
def test_production_stops_at_certs_without_passwords(
    compose: dict[str, Any], env: dict[str, str], missing: str | None
) -> None:
    services = compose["services"]
    # Everything in production waits for certs, so its guard is the first thing to run.
    assert services["es01"]["depends_on"] == {"certs": {"condition": "service_healthy"}}
    done = subprocess.run(
        ["bash", "-ec", _certs_guard(compose)],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if missing is None:
        assert done.returncode == 0, done.stderr
    else:
        assert done.returncode != 0
        assert f"set {missing} in .env" in done.stderr
