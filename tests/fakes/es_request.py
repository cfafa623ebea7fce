"""One request to the stand-in server, as its handlers see it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

SHARDS = {"total": 1, "successful": 1, "failed": 0}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: dict[str, str]
    raw: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.raw) if self.raw else {}

    def flag(self, name: str) -> bool:
        return self.params.get(name, "false") == "true"

    def int_param(self, name: str) -> int | None:
        value = self.params.get(name)
        return None if value is None else int(value)
