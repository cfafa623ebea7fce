import io
import json

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
