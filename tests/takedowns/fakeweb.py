"""Local web servers for the status re-check tests: they count every connection.

Tests can only run servers on loopback, so the "internal service" an SSRF payload
would reach is one of these: if the guard works, its counters stay at zero.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler

# (method, path) -> (status, headers, body): body None = none; "endless" = streams forever.
Route = Callable[[str, str], tuple[int, dict, "bytes | str | None"]]


class FakeWeb:
    def __init__(self, route: Route, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.route = route
        self.host = host
        self.connections = 0
        self.requests: list[tuple[str, str, str]] = []  # (method, path, Host header)
        self.body_bytes_sent = 0
        self.client_hung_up = threading.Event()
        self._lock = threading.Lock()
        self._server = self._make_server(port)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def _make_server(self, port: int):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def _answer(self):
                with fake._lock:
                    fake.requests.append((self.command, self.path, self.headers.get("Host", "")))
                status, headers, body = fake.route(self.command, self.path)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if body == "endless":
                    self.end_headers()
                    self._stream_forever()
                    return
                body = body or b""
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)
                self.close_connection = True

            def _stream_forever(self):
                chunk = b"x" * 65536
                deadline = time.monotonic() + 30
                try:
                    while time.monotonic() < deadline:
                        self.wfile.write(chunk)
                        with fake._lock:
                            fake.body_bytes_sent += len(chunk)
                except OSError:
                    fake.client_hung_up.set()
                self.close_connection = True

            do_GET = do_HEAD = do_POST = _answer

        class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
            daemon_threads = True
            allow_reuse_address = True
            address_family = socket.AF_INET6 if ":" in self.host else socket.AF_INET

            def verify_request(self, request, client_address):
                with fake._lock:
                    fake.connections += 1
                return True

        return Server((self.host, port), Handler)

    def __enter__(self) -> FakeWeb:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


def ipv6_available() -> bool:
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET6) as probe:
        probe.bind(("::1", 0))
        return True
    return False


def ok(method: str, path: str):
    return 200, {}, b"hello"
