"""The push notification listener: an HTTP(S) server at the path and port of notification_url.

It accepts the backend's push POSTs (EWS ``SendNotification``, Graph change notifications; Graph's
validation handshake is answered before any body is read), hands the parsed notifications to a callback
that says whether it knows the subscription, and answers ``OK`` or ``Unsubscribe``. Anything else is refused without
harming the agent: a wrong path 404, another verb 405, no length 411, too big 413, a malformed or hostile
body (DTD, entity expansion, external entities) 400 with a SOAP fault, a failing callback 500 with a SOAP
fault. The wire format (parsing, replies, the body limit) is the backend's ``workbench.mailbox.PushCodec``
(``workbench.backends.push_codec``); the listener knows only HTTP.
"""
from __future__ import annotations

import functools
import http.server
import socket
import ssl
import threading
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

from workbench.mailbox import PushCodec, PushNotification, PushRefused

SHUTDOWN_POLL_SECONDS = 0.02  # how often the serving thread looks whether stop() was called
READ_TIMEOUT = 10.0          # seconds a client may take to send its request


@dataclass(frozen=True)
class ListenAddress:
    scheme: str
    host: str
    port: int
    path: str

    @classmethod
    def from_url(cls, url: str, bind: str | None = None) -> "ListenAddress":
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"notification_url={url!r}: must be an http(s) URL with a host")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if bind is None:
            # A loopback or literal address is bound as given; a DNS name (DMZ proxy, VPN) means all interfaces.
            host = parts.hostname
            bind = host if host in ("localhost",) or _is_ip(host) else "0.0.0.0"
        return cls(parts.scheme, bind, port, parts.path or "/")


def _is_ip(host: str) -> bool:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
            return True
        except OSError:
            pass
    return False


# callback(notifications) -> "OK" | "Unsubscribe"
Decide = Callable[[list[PushNotification]], str]
Log = Callable[..., None]


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: ListenAddress, codec: PushCodec, decide: Decide, log: Log,
                 tls: ssl.SSLContext | None):
        self.address, self.codec, self.decide, self.log, self.tls = address, codec, decide, log, tls
        family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
        self.address_family = family
        super().__init__((address.host, address.port), _Handler)

    def get_request(self):  # type: ignore[override]
        sock, addr = self.socket.accept()
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "workbench-agent"
    sys_version = ""
    timeout = READ_TIMEOUT
    server: _Server

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
        except (ConnectionError, ssl.SSLError, TimeoutError, OSError):
            pass

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the agent logs events itself
        return

    def _reply(self, status: int, body: bytes, content_type: str | None = None, close: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type or self.server.codec.content_type)
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def _refuse(self, status: int, reason: str, close: bool = False) -> None:
        self.server.log("notification-refused", status=status, reason=reason[:200], peer=self.client_address[0])
        self._reply(status, self.server.codec.fault_reply(reason, client=status < 500), close=close)

    def _handshake(self) -> bool:
        """Answer a validation request (Graph: ``?validationToken=``) before any body is read; True if it was one."""
        try:
            token = self.server.codec.validation_reply(self.path.split("?", 1)[1] if "?" in self.path else "")
        except PushRefused as exc:
            self._refuse(exc.status, exc.reason, close=True)
            return True
        if token is None:
            return False
        self.server.log("validation", peer=self.client_address[0])
        self._reply(200, token, "text/plain; charset=utf-8", close=True)
        return True

    def do_POST(self) -> None:
        if self.path.split("?", 1)[0].rstrip("/").lower() != self.server.address.path.rstrip("/").lower():
            self._refuse(404, f"no listener at {self.path[:100]}", close=True)
            return
        if self._handshake():
            return
        if self.headers.get("Transfer-Encoding"):
            self._refuse(411, "Content-Length required (chunked bodies are not accepted)", close=True)
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
            if length < 0:
                raise ValueError
        except ValueError:
            self._refuse(411, "Content-Length required", close=True)
            return
        codec = self.server.codec
        if length > codec.max_body:
            self._refuse(413, f"body of {length} bytes exceeds {codec.max_body}", close=True)
            return
        body = self.rfile.read(length)
        if len(body) < length:
            self.close_connection = True
            return
        try:
            notes = codec.parse(body)
        except PushRefused as exc:
            self._refuse(exc.status, exc.reason)
            return
        try:
            answer = self.server.decide(notes)
        except Exception as exc:  # the agent keeps running whatever one notification does
            self.server.log("notification-error", error=f"{type(exc).__name__}: {exc}"[:300])
            self._reply(500, codec.fault_reply("the agent could not process the notification", client=False))
            return
        self._reply(codec.ok_status, codec.unsubscribe_reply() if answer == "Unsubscribe" else codec.ok_reply())

    def do_GET(self) -> None:
        self._refuse(405, "the notification listener takes push notifications by POST")

    do_PUT = do_DELETE = do_PATCH = do_GET


class Listener:
    """``Listener(address, codec, decide, log).start()``; ``stop()`` closes the socket."""

    def __init__(self, address: ListenAddress, codec: PushCodec, decide: Decide, log: Log | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        if address.scheme == "https" and tls is None:
            raise ValueError("an https notification_url needs a certificate and key for the listener")
        self.address = address
        self._server = _Server(address, codec, decide, log or (lambda *a, **k: None), tls)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> "Listener":
        serve = functools.partial(self._server.serve_forever, poll_interval=SHUTDOWN_POLL_SECONDS)
        self._thread = threading.Thread(target=serve, name="agent-listener", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def tls_context(cert_file: str, key_file: str | None = None) -> ssl.SSLContext:
    """A server TLS context from a PEM certificate (chain) and key."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_file, key_file)
    return ctx
