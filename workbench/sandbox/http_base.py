"""HTTP(S) plumbing the EWS and Graph sandboxes share: loopback servers, quiet handlers, the admin JSON
handler, and starting and stopping a sandbox's server threads."""
from __future__ import annotations

import http.server
import json
import socket
import ssl
import threading
import urllib.parse
from typing import Any, Callable, Iterable

IDLE_TIMEOUT = 120                   # seconds an idle keep-alive connection stays open


#: how often a serving thread looks whether ``shutdown()`` was called: a stop waits up to this long per server
#: (the standard library's 0.5 s made every sandbox stop cost about a second)
SHUTDOWN_POLL_SECONDS = 0.02


class QuickShutdownServer(http.server.ThreadingHTTPServer):
    """A threaded HTTP server whose ``shutdown()`` returns within ``SHUTDOWN_POLL_SECONDS``."""

    def serve_forever(self, poll_interval: float = SHUTDOWN_POLL_SECONDS) -> None:
        super().serve_forever(poll_interval)


class LoopbackHTTPServer(QuickShutdownServer):
    """A threaded server on 127.0.0.1, TLS when given a context, that can close its open connections."""
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, port: int, handler: type[http.server.BaseHTTPRequestHandler], tls: ssl.SSLContext | None):
        self.tls = tls
        self.connections: set[socket.socket] = set()
        self.conn_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), handler)

    def get_request(self) -> tuple[socket.socket, object]:
        sock, addr = self.socket.accept()
        # headers and body go out in two writes: without NODELAY the body waits for the client's delayed ACK
        # (40 ms a request on Linux), a cost IIS does not have
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive as IIS answers it; the TLS handshake runs in the connection's own thread, and a
    client that goes away or times out ends its connection without a traceback on the console."""
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-IIS/10.0"
    sys_version = ""
    timeout = IDLE_TIMEOUT

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

    def drop_connection(self) -> None:
        """Close the connection without an answer (the injected 'dropped connection' fault)."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class AdminHTTPServer(QuickShutdownServer):
    """A sandbox's admin endpoint: plain HTTP on 127.0.0.1."""
    daemon_threads = True
    block_on_close = False

    def __init__(self, port: int, handler: type[http.server.BaseHTTPRequestHandler]):
        super().__init__(("127.0.0.1", port), handler)


class JsonAdminHandler(http.server.BaseHTTPRequestHandler):
    """JSON answers and the path split into its unquoted parts, for the admin endpoints."""
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return

    def _json(self, status: int, data: Any) -> None:
        body = json.dumps(data, indent=1, default=str).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _path(self) -> list[str]:
        return [urllib.parse.unquote(p) for p in urllib.parse.urlsplit(self.path).path.split("/") if p]


def serve_in_threads(targets: Iterable[tuple[Callable[[], object], str]]) -> list[threading.Thread]:
    """Start one daemon thread per (target, name)."""
    threads = []
    for target, name in targets:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        threads.append(thread)
    return threads


def stop_servers(server: LoopbackHTTPServer, admin: AdminHTTPServer | None, threads: list[threading.Thread]) -> None:
    """Stop a sandbox's server (closing its open connections) and admin endpoint, then join their threads."""
    server.shutdown()
    server.close_connections()
    server.server_close()
    if admin is not None:
        admin.shutdown()
        admin.server_close()
    for thread in threads:
        thread.join(timeout=5)
