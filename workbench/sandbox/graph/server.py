"""HTTPS transport for the Graph sandbox: one thread per connection, HTTP/1.1 keep-alive, JSON bodies."""
from __future__ import annotations

import http.server
import socket
import ssl
import threading
import urllib.parse
from typing import Callable

from .wire import Request, Response

MAX_BODY = 4 * 1024 * 1024          # Graph refuses larger JSON bodies (413)
IDLE_TIMEOUT = 120


class GraphHTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, port: int, handle: Callable[[Request], Response], tls: ssl.SSLContext | None):
        self.handle, self.tls = handle, tls
        self.connections: set[socket.socket] = set()
        self.conn_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), GraphRequestHandler)

    def get_request(self) -> tuple[socket.socket, object]:
        sock, addr = self.socket.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)   # headers and body go out in two writes
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        with self.conn_lock:
            self.connections.add(sock)
        return sock, addr

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        with self.conn_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self.conn_lock:
            open_conns = list(self.connections)
        for sock in open_conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class GraphRequestHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-IIS/10.0"
    sys_version = ""
    timeout = IDLE_TIMEOUT
    server: GraphHTTPServer

    def setup(self) -> None:
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.do_handshake()
            except (ssl.SSLError, OSError):
                self.close_connection = True

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionError, ssl.SSLError, TimeoutError):
            pass

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - keep the console quiet
        return

    def _body(self) -> bytes | None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            self._send(Response(413 if length > 0 else 411, b"Request body refused"))
            return None
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        body = self._body()
        if body is None:
            return
        split = urllib.parse.urlsplit(self.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(split.query, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = Request(self.command, urllib.parse.unquote(split.path), query, headers, body)
        response = self.server.handle(request)
        if response.drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        response.headers.setdefault("request-id", request.request_id)
        response.headers.setdefault("client-request-id", headers.get("client-request-id", request.request_id))
        self._send(response)

    def _send(self, response: Response) -> None:
        payload, content_type = response.payload()
        self.send_response(response.status)
        for name, value in response.headers.items():
            if name.lower() != "content-type":
                self.send_header(name, value)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _dispatch
