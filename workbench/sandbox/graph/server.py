"""HTTPS transport for the Graph sandbox: one thread per connection, HTTP/1.1 keep-alive, JSON bodies."""
from __future__ import annotations

import ssl
import urllib.parse
from typing import Callable

from ..http_base import LoopbackHTTPServer, QuietHandler
from .wire import Request, Response

MAX_BODY = 4 * 1024 * 1024          # Graph refuses larger JSON bodies (413)


class GraphHTTPServer(LoopbackHTTPServer):
    def __init__(self, port: int, handle: Callable[[Request], Response], tls: ssl.SSLContext | None):
        self.handle = handle
        super().__init__(port, GraphRequestHandler, tls)


class GraphRequestHandler(QuietHandler):
    server: GraphHTTPServer

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
            self.drop_connection()
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
