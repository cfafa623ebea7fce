import io
import json
import subprocess
import sys

import structlog

from eqlwatch.logs import REDACTED, configure


def test_secrets_are_redacted_at_any_depth() -> None:
    buf = io.StringIO()
    configure(json=True, level="DEBUG", stream=buf)
    structlog.get_logger().debug(
        "connecting",
        api_key="abc123",
        settings={"url": "https://es:9200", "password": "hunter2", "nested": [{"token": "t"}]},
    )
    line = json.loads(buf.getvalue())
    assert line["api_key"] == REDACTED
    assert line["settings"]["password"] == REDACTED
    assert line["settings"]["nested"][0]["token"] == REDACTED
    assert line["settings"]["url"] == "https://es:9200"
    assert "hunter2" not in buf.getvalue()


def test_level_filters() -> None:
    buf = io.StringIO()
    configure(json=True, level="WARNING", stream=buf)
    structlog.get_logger().info("quiet")
    assert buf.getvalue() == ""


_PENDING = """
import sys
from eqlwatch.logs import configure, configure_when_imported
configure_when_imported(json=True, level="INFO")
assert "structlog" not in sys.modules, "configure_when_imported imported structlog"
if sys.argv[1] == "explicit":
    configure(json=False, level="INFO")  # an explicit choice replaces the pending one
import structlog
structlog.get_logger().info("hello", password="hunter2")
structlog.get_logger().debug("hidden")
"""


def _pending(mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _PENDING, mode],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_pending_configuration_applies_when_structlog_is_imported() -> None:
    done = _pending("pending")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # unconfigured structlog would have printed here
    (line,) = done.stderr.splitlines()
    record = json.loads(line)
    assert record["event"] == "hello"
    assert record["level"] == "info"
    assert record["password"] == REDACTED


def test_explicit_configuration_replaces_a_pending_one() -> None:
    done = _pending("explicit")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert not line.startswith("{")
    assert "hello" in line
    assert "hunter2" not in line
