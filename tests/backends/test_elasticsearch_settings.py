"""Connection settings: secrets from variables or files, never shown; TLS verified by default."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from elasticsearch import AuthenticationException

from eqlwatch import logs
from eqlwatch.backends.elasticsearch import build_client
from eqlwatch.errors import ConfigError
from eqlwatch.kibana.importer import auth_header, import_url, tls_context
from eqlwatch.settings import settings_from_env

URL = "https://es.example.internal:9200"


def test_defaults_verify_tls_and_name_the_data_streams() -> None:
    settings = settings_from_env({"ELASTICSEARCH_URL": URL})
    assert settings.verify_certs is True
    assert settings.alerts_data_stream == "logs-eqlwatch.alerts-default"
    assert settings.runs_data_stream == "logs-eqlwatch.runs-default"
    assert settings.client_options()["verify_certs"] is True


def test_several_urls_are_split() -> None:
    settings = settings_from_env({"ELASTICSEARCH_URL": f"{URL}, https://b:9200"})
    assert settings.hosts == (URL, "https://b:9200")


def test_secret_from_file_and_hidden_in_repr(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("hunter2-file\n")
    settings = settings_from_env(
        {
            "ELASTICSEARCH_URL": URL,
            "ELASTICSEARCH_USERNAME": "elastic",
            "ELASTICSEARCH_PASSWORD_FILE": str(secret),
        }
    )
    assert settings.client_options()["basic_auth"] == ("elastic", "hunter2-file")
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings.model_dump())


def test_api_key_file_becomes_the_kibana_header(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("ZW5jb2RlZA==")
    settings = settings_from_env({"ELASTICSEARCH_URL": URL, "ELASTICSEARCH_API_KEY_FILE": str(key)})
    assert auth_header(settings) == {"Authorization": "ApiKey ZW5jb2RlZA=="}


def test_variable_and_file_together_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        settings_from_env(
            {
                "ELASTICSEARCH_URL": URL,
                "ELASTICSEARCH_API_KEY": "a",
                "ELASTICSEARCH_API_KEY_FILE": str(tmp_path / "k"),
            }
        )
    assert info.value.location is not None
    assert info.value.location.field == "ELASTICSEARCH_API_KEY"


def test_unreadable_secret_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "absent"
    with pytest.raises(ConfigError, match="cannot read secret file") as info:
        settings_from_env({"ELASTICSEARCH_URL": URL, "ELASTICSEARCH_PASSWORD_FILE": str(missing)})
    assert info.value.location is not None
    assert info.value.location.file == str(missing)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "ELASTICSEARCH_URL or ELASTICSEARCH_CLOUD_ID"),
        ({"ELASTICSEARCH_URL": URL, "ELASTICSEARCH_CLOUD_ID": "x:eA=="}, "only one"),
        ({"ELASTICSEARCH_URL": URL, "ELASTICSEARCH_USERNAME": "u"}, "go together"),
        (
            {
                "ELASTICSEARCH_URL": URL,
                "ELASTICSEARCH_API_KEY": "k",
                "ELASTICSEARCH_BEARER_TOKEN": "t",
            },
            "choose one",
        ),
        ({"ELASTICSEARCH_URL": URL, "ELASTICSEARCH_VERIFY_CERTS": "maybe"}, "true or false"),
        ({"ELASTICSEARCH_URL": "https://elastic:pw@es:9200"}, "not in ELASTICSEARCH_URL"),
    ],
)
def test_invalid_settings_are_config_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        settings_from_env(env)
    assert "pw@" not in str(info.value)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()


@pytest.mark.usefixtures("restore_logging")
def test_turning_verification_off_warns_without_secrets() -> None:
    out = io.StringIO()
    logs.configure(json=True, level="DEBUG", stream=out)
    settings = settings_from_env(
        {
            "ELASTICSEARCH_URL": URL,
            "ELASTICSEARCH_USERNAME": "elastic",
            "ELASTICSEARCH_PASSWORD": "pw-never-logged",
            "ELASTICSEARCH_VERIFY_CERTS": "false",
        }
    )
    client = build_client(settings)
    client.close()
    (line,) = [json.loads(x) for x in out.getvalue().splitlines()]
    assert line["event"] == "tls_verification_disabled"
    assert line["level"] == "warning"
    assert "pw-never-logged" not in out.getvalue()
    assert tls_context(settings).check_hostname is False


def test_kibana_url_space_and_scheme() -> None:
    base = {"ELASTICSEARCH_URL": URL, "KIBANA_URL": "https://kb:5601/", "KIBANA_SPACE": "soc"}
    assert import_url(settings_from_env(base), True) == (
        "https://kb:5601/s/soc/api/saved_objects/_import?overwrite=true"
    )
    with pytest.raises(ConfigError, match="http"):
        import_url(settings_from_env({**base, "KIBANA_URL": "file:///etc/passwd"}), True)


def test_no_secret_reaches_any_debug_log(caplog: pytest.LogCaptureFixture) -> None:
    """Client, transport and urllib3 loggers at DEBUG, through a request and a failure."""
    from tests.fakes.es_server import FakeElasticsearch

    fake = FakeElasticsearch().start()
    settings = settings_from_env(
        {
            "ELASTICSEARCH_URL": fake.url,
            "ELASTICSEARCH_API_KEY": "c2VjcmV0LWFwaS1rZXk=",
        }
    )
    caplog.set_level(logging.DEBUG)
    client = build_client(settings)
    try:
        client.info()
        fake.faults.add("status", status=401, times=1)
        with pytest.raises(AuthenticationException):
            client.info()
    finally:
        client.close()
        fake.stop()
    assert caplog.records  # the loggers did speak
    assert "c2VjcmV0LWFwaS1rZXk" not in caplog.text
    assert "Authorization: ApiKey <hidden>" in caplog.text  # the transport masks it
    (sent,) = fake.log[:1]
    headers = {k.lower(): v for k, v in sent.headers.items()}
    assert headers["authorization"] == "ApiKey c2VjcmV0LWFwaS1rZXk="


def test_the_real_cluster_parameter_exists_only_with_a_url(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.backends.es_cluster import CONTRACT_VERSIONS, cluster_kinds, contract_backends

    fakes = {f"elasticsearch-fake-{v}" for v in CONTRACT_VERSIONS}
    assert {"elasticsearch-fake-8.9.2", "elasticsearch-fake-9.2.1"} <= fakes
    monkeypatch.delenv("ELASTICSEARCH_URL", raising=False)
    assert cluster_kinds() == ["fake"]
    assert set(contract_backends()) == fakes
    monkeypatch.setenv("ELASTICSEARCH_URL", URL)
    assert cluster_kinds() == ["fake", "real"]
    assert set(contract_backends()) == fakes | {"elasticsearch-real"}
