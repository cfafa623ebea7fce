"""docker-compose.yml and the Dockerfile, checked without a Docker engine.

The compose file is validated against the Compose Specification's JSON schema (vendored by
check-jsonschema as `vendor.compose-spec`), then for what the schema cannot know: start
order gated by health checks, secrets from `.env`, ports on 127.0.0.1, the test profile.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from eqlwatch.jobs import load_job


@pytest.fixture(scope="module")
def compose(repo_root: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((repo_root / "docker-compose.yml").read_text())
    return data


def _schema_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_compose_file_matches_the_compose_specification(repo_root: Path, tmp_path: Path) -> None:
    ok = _schema_check(repo_root / "docker-compose.yml")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = tmp_path / "docker-compose.yml"
    text = (repo_root / "docker-compose.yml").read_text()
    broken.write_text(text.replace("condition: service_healthy", "condition: when_ready", 1))
    assert _schema_check(broken).returncode == 1  # the check can fail


def test_every_dependency_exists_and_is_gated(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for target, rule in (service.get("depends_on") or {}).items():
            assert target in services, (name, target)
            assert rule["condition"] in ("service_healthy", "service_completed_successfully")
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[target], target


def test_stack_start_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services["es01"]["depends_on"]) == {"certs"}
    assert set(services["kibana"]["depends_on"]) == {"es01"}
    assert set(services["eqlwatch-setup"]["depends_on"]) == {"es01", "kibana"}
    assert services["eqlwatch"]["depends_on"]["eqlwatch-setup"]["condition"] == (
        "service_completed_successfully"
    )
    assert services["eqlwatch-setup"]["command"][0] == "setup"


def test_setup_retries_itself_since_a_restart_would_come_too_late(
    compose: dict[str, Any],
) -> None:
    """`service_completed_successfully` dependants see the first exit; so no restart policy,
    `setup --retry-for` instead (its retries are tested in test_elasticsearch_cli.py)."""
    setup = compose["services"]["eqlwatch-setup"]
    assert setup["restart"] == "no"
    command = setup["command"]
    assert command[command.index("--retry-for") + 1] == "10m"


def _setup_line(text: str) -> str:
    """The `.env` set-up line: the comment lines from `for v in` to `> .env`."""
    lines = [line.removeprefix("#").strip() for line in text.splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("for v in "))
    end = next(i for i in range(start, len(lines)) if lines[i].endswith("> .env"))
    return "\n".join(lines[start : end + 1])


def test_the_documented_set_up_line_makes_an_env_kibana_alerting_accepts(
    repo_root: Path, compose: dict[str, Any], tmp_path: Path
) -> None:
    line = _setup_line((repo_root / "docker-compose.yml").read_text())
    assert line in (repo_root / "docs/production.md").read_text()  # one line, documented
    subprocess.run(["bash", "-ec", line], cwd=tmp_path, check=True, timeout=30)
    env = dict(row.split("=", 1) for row in (tmp_path / ".env").read_text().splitlines() if row)
    kibana = compose["services"]["kibana"]["environment"]
    for setting in (
        "XPACK_ENCRYPTEDSAVEDOBJECTS_ENCRYPTIONKEY",
        "XPACK_SECURITY_ENCRYPTIONKEY",
        "XPACK_REPORTING_ENCRYPTIONKEY",
    ):
        name = re.fullmatch(r"\$\{(\w+):-\}", kibana[setting])
        assert name is not None, kibana[setting]
        assert len(env[name.group(1)]) >= 32  # Kibana refuses shorter keys
    guard = compose["services"]["certs"]["command"][2].split("cd config/certs", 1)[0]
    ok = subprocess.run(["bash", "-ec", guard.replace("$$", "$")],
                        env={"PATH": "/usr/bin:/bin", **env}, capture_output=True,
                        text=True, timeout=30, check=False)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert len(set(env.values())) == len(env)  # each secret drawn on its own


def test_default_image_is_the_newest_known_8_19(compose: dict[str, Any]) -> None:
    images = {
        s["image"] for s in compose["services"].values() if "STACK_VERSION" in s.get("image", "")
    }
    assert images == {
        "elasticsearch:${STACK_VERSION:-8.19.26}",
        "kibana:${STACK_VERSION:-8.19.26}",
    }


def test_test_cluster_is_healthy_only_with_the_stack_component_templates(
    compose: dict[str, Any],
) -> None:
    check = " ".join(compose["services"]["es-test"]["healthcheck"]["test"])
    for template in ("logs@settings", "ecs@mappings"):
        assert f"_component_template/{template}" in check
    load = compose["services"]["test-load"]
    assert load["depends_on"]["es-test"]["condition"] == "service_healthy"
    assert load["command"][0].index("eqlwatch setup") < load["command"][0].index("eqlwatch load")


def test_security_on_secrets_from_env_and_local_ports(compose: dict[str, Any]) -> None:
    es = compose["services"]["es01"]["environment"]
    assert es["xpack.security.enabled"] == "true"
    assert es["xpack.security.http.ssl.enabled"] == "true"
    text = yaml.safe_dump(compose)
    assert not re.search(r"PASSWORD: (?!\$\{)", text), "passwords must come from .env"
    for service in compose["services"].values():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), port
    kibana = compose["services"]["kibana"]["environment"]
    assert kibana["ELASTICSEARCH_USERNAME"] == "kibana_system"


def test_the_job_container_handles_sigterm(compose: dict[str, Any]) -> None:
    job = compose["services"]["eqlwatch"]
    assert job["init"] is True
    assert job["stop_grace_period"] == "90s"
    assert job["environment"]["ELASTICSEARCH_CA_CERTS"] == "/certs/ca/ca.crt"


def test_test_profile_loads_data_then_runs_tests(compose: dict[str, Any]) -> None:
    services = compose["services"]
    profiled = {n for n, s in services.items() if "test" in s.get("profiles", [])}
    assert profiled == {"es-test", "test-load", "tests"}
    assert services["tests"]["depends_on"]["test-load"]["condition"] == (
        "service_completed_successfully"
    )
    assert services["tests"]["environment"]["ELASTICSEARCH_URL"] == "http://es-test:9200"
    assert "eqlwatch load" in services["test-load"]["command"][0]


def test_dockerfile_is_slim_non_root_with_healthcheck(repo_root: Path) -> None:
    text = (repo_root / "Dockerfile").read_text()
    assert "-slim" in text
    runtime = text.split("AS runtime", 1)[1].split("\nFROM ", 1)[0]
    assert re.search(r"^USER 10001", runtime, re.MULTILINE)
    assert "HEALTHCHECK" in runtime
    assert 'ENTRYPOINT ["eqlwatch"]' in runtime  # exec form: SIGTERM reaches the process
    # The project is installed from the lock file, not as an editable checkout.
    build = text.split("AS build", 1)[1].split("\nFROM ", 1)[0]
    assert "uv sync --locked --no-dev --no-editable" in build


def test_production_job_uses_the_elasticsearch_backend(repo_root: Path) -> None:
    job, errors = load_job(repo_root / "deploy/jobs/elasticsearch.toml")
    assert errors == []
    assert job is not None
    assert (job.source.backend, job.alerts.backend, job.state.backend) == ("elasticsearch",) * 3
