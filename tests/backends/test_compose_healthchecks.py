"""The compose health checks, run as shell against the stand-in on loopback.

`eqlwatch setup` must not create data streams before the stack has installed its built-in
component templates (they appear a moment after the HTTP port opens; without them a data
stream gets no ECS mappings and `ignore_missing_component_templates` hides it). Both the
production node (`es01`, security on) and the test node (`es-test`) are healthy only once
`logs@settings` and `ecs@mappings` exist. The commands are the compose file's own, with
only the address (and the CA flag: the stand-in speaks plain HTTP) replaced.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fakes.es_server import BUILTIN_COMPONENTS, FakeElasticsearch

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl on PATH")


@pytest.fixture(scope="module")
def compose(repo_root: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((repo_root / "docker-compose.yml").read_text())
    return data


@pytest.fixture
def server() -> Iterator[FakeElasticsearch]:
    fake = FakeElasticsearch().start()
    yield fake
    fake.stop()


def _healthy(compose: dict[str, Any], service: str, url: str, password: str = "") -> bool:
    kind, command = compose["services"][service]["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    assert "localhost:9200" in command
    shell = (
        command.replace("$$", "$")
        .replace(" --cacert config/certs/ca/ca.crt", "")
        .replace("https://localhost:9200", url)
        .replace("http://localhost:9200", url)
    )
    env = {"PATH": "/usr/bin:/bin", "ELASTIC_PASSWORD": password}
    done = subprocess.run(
        ["sh", "-c", shell], env=env, capture_output=True, timeout=60, check=False
    )
    return done.returncode == 0


def test_test_node_is_healthy_only_with_the_component_templates(
    compose: dict[str, Any], server: FakeElasticsearch
) -> None:
    server.component_templates = set()
    assert not _healthy(compose, "es-test", server.url)
    server.component_templates = {"logs@settings"}
    assert not _healthy(compose, "es-test", server.url)
    server.component_templates = set(BUILTIN_COMPONENTS)
    assert _healthy(compose, "es-test", server.url)


def test_production_node_is_healthy_only_with_security_and_the_component_templates(
    compose: dict[str, Any], server: FakeElasticsearch
) -> None:
    server.password = "s3cretpw"
    server.component_templates = set()
    assert not _healthy(compose, "es01", server.url, "s3cretpw")
    server.component_templates = {"ecs@mappings"}
    assert not _healthy(compose, "es01", server.url, "s3cretpw")
    server.component_templates = set(BUILTIN_COMPONENTS)
    assert _healthy(compose, "es01", server.url, "s3cretpw")
    assert not _healthy(compose, "es01", server.url, "wrong")  # the password is really used
    server.password = None  # security off: not the production node's state
    assert not _healthy(compose, "es01", server.url, "s3cretpw")
