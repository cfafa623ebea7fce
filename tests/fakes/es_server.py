"""A small Elasticsearch + Kibana stand-in over real HTTP on 127.0.0.1, for tests.

It plays one Elasticsearch version (`version=`, default 8.19.0): `GET /` reports it, and
body fields that version does not know are refused with 400 as the real server does.
It answers exactly the endpoints eqlwatch calls, in the shapes of the Elasticsearch
specification (elastic/elasticsearch-specification, `specification/<api>/`): the type each
handler follows is named in its docstring. Faults (tests/fakes/faults.py) make it refuse,
throttle, fail, stall or answer partially, so the backend's retry paths run for real.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from tests.fakes.es_eql import eql_search
from tests.fakes.es_request import Request
from tests.fakes.es_routes import ROUTES
from tests.fakes.es_store import EsError, Store
from tests.fakes.faults import Faults

Response = tuple[int, Any]
BUILTIN_COMPONENTS = ("logs@mappings", "logs@settings", "ecs@mappings")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _dispatch(self) -> None:
        fake = self.server.fake
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = url.path
        stopped = fake.stopped
        if stopped or fake.faults.take(self.command, path, ("drop",)) is not None:
            self.close_connection = True
            return
        delay = fake.faults.take(self.command, path, ("delay",))
        if delay is not None:
            time.sleep(delay.delay_s)
        respond = fake.faults.take(self.command, path, ("respond",))
        if respond is not None:
            fake.log.append(
                Request(self.command, path, dict(parse_qsl(url.query)), raw, dict(self.headers))
            )
            self._send(respond.status, _answer(respond.body, respond.echo_headers, self.headers))
            return
        status_fault = fake.faults.take(self.command, path, ("status",))
        if status_fault is not None:
            err = EsError(status_fault.status, "fake_fault_exception", "injected fault")
            self._send(status_fault.status, err.body())
            return
        request = Request(self.command, path, dict(parse_qsl(url.query)), raw, dict(self.headers))
        fake.log.append(request)
        try:
            status, body = fake.route(request)
        except EsError as exc:
            status, body = exc.status, exc.body()
        self._send(status, body)

    def _send(self, status: int, body: Any) -> None:
        if isinstance(body, bytes):
            data = body
        else:
            data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        try:
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a timeout test): fine

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _dispatch


def _answer(body: Any, echo_headers: bool, headers: Any) -> Any:
    """A `respond` fault's body; with `echo_headers`, an error quoting every request header."""
    if not echo_headers:
        return body
    quoted = ", ".join(f"{k}={v}" for k, v in headers.items())
    return {
        "error": {
            "type": "security_exception",
            "reason": f"request rejected by the proxy; headers {{{quoted}}}",
            "header": {"Authorization": headers.get("Authorization", "")},
        },
        "status": 403,
    }


class _Server(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True
    fake: FakeElasticsearch


class FakeElasticsearch:
    """`start()` serves at `url` (127.0.0.1, free port); `stop()` makes connections refused."""

    def __init__(
        self, evaluator: Callable[..., dict[str, Any]] = eql_search, *, version: str = "8.19.0"
    ) -> None:
        self.version = version
        self.store = Store()
        self.faults = Faults()
        self.evaluator = evaluator
        self.log: list[Request] = []
        self.async_searches: dict[str, dict[str, Any]] = {}
        self.failure_store: list[tuple[str, Any, dict[str, Any]]] = []  # (target, id, source)
        # The stack's built-in component templates; a test empties it to play a node still
        # starting (they appear a moment after the HTTP port opens).
        self.component_templates = set(BUILTIN_COMPONENTS)
        # With security on (`password` set), every request needs `elastic`'s basic auth.
        self.password: str | None = None
        self.port = 0
        self.stopped = False
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeElasticsearch:
        server = _Server(("127.0.0.1", self.port), _Handler)
        server.fake = self
        self.stopped = False
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the listening socket and drop open connections: connections are refused."""
        self.stopped = True
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def is_listening(self) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def route(self, request: Request) -> Response:
        if self.password is not None and not self._authenticated(request):
            raise EsError(
                401, "security_exception", "missing authentication credentials for REST request"
            )
        for method, pattern, handler in ROUTES:
            match = pattern.fullmatch(request.path)
            if match and request.method in method.split("|"):
                args = [unquote(g) for g in match.groups()]
                with self.store.lock:
                    response: Response = handler(self, request, *args)
                    return response
        raise EsError(405, "method_not_allowed", f"no route for {request.method} {request.path}")

    def _authenticated(self, request: Request) -> bool:
        expected = base64.b64encode(f"elastic:{self.password}".encode()).decode()
        sent = {k.lower(): v for k, v in request.headers.items()}.get("authorization", "")
        return sent == f"Basic {expected}"

    def at_least(self, major: int, minor: int) -> bool:
        """Whether the version this stand-in plays is `major.minor` or newer."""
        mine = tuple(int(p) for p in self.version.split(".")[:2])
        return mine >= (major, minor)

    # -- helpers for tests ---------------------------------------------------------------
    def requests_to(self, fragment: str) -> list[Request]:
        return [r for r in self.log if fragment in r.path]

    def add_events(self, target: str, events: list[dict[str, Any]]) -> None:
        """Load source events straight into the store (bypassing HTTP), as a test fixture."""
        with self.store.lock:
            for event in events:
                op = "create" if target in self.store.data_streams else "index"
                self.store.write(
                    target,
                    event.get("_id"),
                    {k: v for k, v in event.items() if k != "_id"},
                    op_type=op,
                )
