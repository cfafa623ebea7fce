"""Connection settings for Elasticsearch and Kibana, read from the environment.

Secrets are `SecretStr`, so neither `repr()` nor a log line ever shows them, and every
secret can come from a file (`NAME_FILE`, the Docker secrets convention) instead of the
variable itself. TLS verification is on unless a setting explicitly turns it off.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from eqlwatch.errors import ConfigError, Location

ALERTS_DATA_STREAM = "logs-eqlwatch.alerts-default"
RUNS_DATA_STREAM = "logs-eqlwatch.runs-default"
STATE_INDEX = "eqlwatch-state"

# What `--help` of every command that can reach a cluster says it reads (\b keeps the layout).
ENVIRONMENT_HELP = """\b
Environment (read when a job's backend is Elasticsearch, and by setup and load):
  ELASTICSEARCH_URL           cluster URL(s), comma-separated
  ELASTICSEARCH_CLOUD_ID      Elastic Cloud id, instead of ELASTICSEARCH_URL
  ELASTICSEARCH_API_KEY       API key, encoded (secret)
  ELASTICSEARCH_USERNAME      basic auth user, with ELASTICSEARCH_PASSWORD (secret)
  ELASTICSEARCH_BEARER_TOKEN  bearer token (secret)
  ELASTICSEARCH_CA_CERTS      CA bundle (PEM) to verify the cluster with
  ELASTICSEARCH_VERIFY_CERTS  false turns TLS verification off (default: true)
  ELASTICSEARCH_TIMEOUT       request timeout in seconds (default: 30)
  KIBANA_URL, KIBANA_SPACE    Kibana, where setup imports its saved objects
A secret can come from a file instead: NAME_FILE holds its path (Docker secrets)."""

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ElasticsearchSettings(BaseModel):
    """How to reach one cluster (and, for `setup`, its Kibana). Frozen once validated."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hosts: tuple[str, ...] = ()
    cloud_id: str | None = None
    api_key: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    bearer_token: SecretStr | None = None
    ca_certs: Path | None = None
    verify_certs: bool = True
    request_timeout_s: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=3, ge=0)
    kibana_url: str | None = None
    kibana_space: str | None = None
    alerts_data_stream: str = ALERTS_DATA_STREAM
    runs_data_stream: str = RUNS_DATA_STREAM
    state_index: str = STATE_INDEX

    @model_validator(mode="after")
    def _check(self) -> ElasticsearchSettings:
        if not self.hosts and not self.cloud_id:
            raise ValueError("set ELASTICSEARCH_URL or ELASTICSEARCH_CLOUD_ID")
        if self.hosts and self.cloud_id:
            raise ValueError("set only one of ELASTICSEARCH_URL and ELASTICSEARCH_CLOUD_ID")
        methods = [self.api_key, self.password, self.bearer_token]
        if sum(m is not None for m in methods) > 1:
            raise ValueError("choose one of api key, username/password and bearer token")
        for host in self.hosts:
            if "@" in urlsplit(host if "//" in host else f"//{host}").netloc:
                raise ValueError(
                    "put credentials in ELASTICSEARCH_USERNAME/PASSWORD or an API key, "
                    "not in ELASTICSEARCH_URL"
                )
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        return self

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for `elasticsearch.Elasticsearch(...)`; secrets revealed only here."""
        options: dict[str, Any] = {
            "request_timeout": self.request_timeout_s,
            "max_retries": self.max_retries,
            "retry_on_timeout": True,
            "verify_certs": self.verify_certs,
        }
        if self.cloud_id:
            options["cloud_id"] = self.cloud_id
        else:
            options["hosts"] = list(self.hosts)
        if self.api_key is not None:
            options["api_key"] = self.api_key.get_secret_value()
        if self.username is not None and self.password is not None:
            options["basic_auth"] = (self.username, self.password.get_secret_value())
        if self.bearer_token is not None:
            options["bearer_auth"] = self.bearer_token.get_secret_value()
        if self.ca_certs is not None:
            options["ca_certs"] = str(self.ca_certs)
        if not self.verify_certs:
            options["ssl_show_warn"] = False
        return options


def _secret(env: Mapping[str, str], name: str) -> str | None:
    """`NAME` or the content of the file named by `NAME_FILE` (not both)."""
    direct = env.get(name)
    path = env.get(f"{name}_FILE")
    if direct and path:
        raise ConfigError(f"set {name} or {name}_FILE, not both", location=Location(field=name))
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot read secret file: {exc.strerror}",
                location=Location(file=path, field=f"{name}_FILE"),
            ) from exc
    return direct or None


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ConfigError(f"expected true or false, got {raw!r}", location=Location(field=name))


def settings_from_env(env: Mapping[str, str]) -> ElasticsearchSettings:
    """Build settings from `ELASTICSEARCH_*` / `KIBANA_*` variables (env passed in, not read)."""
    raw: dict[str, Any] = {
        "hosts": tuple(u.strip() for u in env.get("ELASTICSEARCH_URL", "").split(",") if u.strip()),
        "cloud_id": env.get("ELASTICSEARCH_CLOUD_ID") or None,
        "api_key": _secret(env, "ELASTICSEARCH_API_KEY"),
        "username": env.get("ELASTICSEARCH_USERNAME") or None,
        "password": _secret(env, "ELASTICSEARCH_PASSWORD"),
        "bearer_token": _secret(env, "ELASTICSEARCH_BEARER_TOKEN"),
        "ca_certs": env.get("ELASTICSEARCH_CA_CERTS") or None,
        "verify_certs": _flag(env, "ELASTICSEARCH_VERIFY_CERTS", True),
        "kibana_url": env.get("KIBANA_URL") or None,
        "kibana_space": env.get("KIBANA_SPACE") or None,
    }
    for key, name in (("request_timeout_s", "ELASTICSEARCH_TIMEOUT"),):
        if env.get(name):
            raw[key] = env[name]
    try:
        return ElasticsearchSettings.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "ELASTICSEARCH_URL"
        raise ConfigError(first["msg"], location=Location(field=where)) from None
