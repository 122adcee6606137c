"""Slow HTTP servers on 127.0.0.1 for the hotline deadline tests (real sockets, no mocks).

``trickling``: answers 200 with its headers at once, then one byte of the body every
`interval` seconds, never finishing within any sane deadline. ``silent``: accepts the
connection and never reads nor answers. Both stop (and drop their connections) on `stop`.
"""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Callable

HEADERS = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b"Content-Length: 1000000\r\nConnection: close\r\n\r\n"
)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, handle: Callable[[socketserver.BaseRequestHandler], None]):
        self.stopping = threading.Event()
        self.requests = 0

        class Handler(socketserver.BaseRequestHandler):
            def handle(inner) -> None:
                self.requests += 1
                handle(inner)

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> _Server:
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()


def trickling(interval: float = 1.0) -> _Server:
    def handle(handler: socketserver.BaseRequestHandler) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = handler.request.recv(4096)
            if not chunk:
                return
            request += chunk
        handler.request.sendall(HEADERS + b'{"items": [')
        while not server.stopping.wait(interval):
            try:
                handler.request.sendall(b" ")
            except OSError:  # the client gave up: what a deadline is for
                return

    server = _Server(handle)
    return server.start()


def silent() -> _Server:
    def handle(handler: socketserver.BaseRequestHandler) -> None:
        server.stopping.wait()  # holds the connection, reads nothing, answers nothing

    server = _Server(handle)
    return server.start()
