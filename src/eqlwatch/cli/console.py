"""Where commands talk to a person (stderr) and how they log.

Apart from `common` so that commands which run no job (`hunt`) do not import the job,
actions and backend machinery at start-up.
"""

from __future__ import annotations

from rich.console import Console

from eqlwatch.logs import configure

# Messages to a person; soft_wrap: never re-wrapped at 80 columns when stderr is a file.
err_console = Console(stderr=True, soft_wrap=True)


def setup_logging(log_format: str, level: str) -> None:
    """`auto` (or anything but json/console): JSON unless stderr is a terminal."""
    configure(json={"json": True, "console": False}.get(log_format), level=level)
