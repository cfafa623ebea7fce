"""A real HTTP receiver on loopback that misbehaves on demand (webhook and Apprise json://)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """`faults` is consumed one per request: "ok", "500", "429", "slow", "drop"."""

    port: int = 0
    faults: list[str] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    slow_s: float = 2.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def next_fault(self) -> str:
        with self.lock:
            return self.faults.pop(0) if self.faults else "ok"


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            fault = receiver.next_fault()
            length = int(self.headers.get("Content-Length") or 0)
            if fault == "drop":
                self.rfile.read(min(length, 10))
                self.connection.close()  # mid-request: no response at all
                return
            body = self.rfile.read(length)
            if fault == "slow":
                time.sleep(receiver.slow_s)
            status = {"ok": 200, "500": 500, "429": 429, "slow": 200}[fault]
            if status == 200 and fault == "ok":
                with receiver.lock:
                    receiver.received.append(
                        Received("POST", self.path, dict(self.headers.items()), body)
                    )
            self.send_response(status)
            if status == 429:
                self.send_header("Retry-After", "120")
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_PUT = do_POST

    return Handler


@contextmanager
def receiver(faults: list[str] | None = None) -> Iterator[Receiver]:
    state = Receiver(faults=list(faults or []))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
