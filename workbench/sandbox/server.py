"""HTTP(S) transport with NTLM connection authentication (pyspnego acceptor), as IIS does it for EWS."""
from __future__ import annotations

import base64
import os
import ssl
import threading

import spnego
import spnego.exceptions

from .http_base import LoopbackHTTPServer, QuietHandler
from .service import EwsService
from .store import Store, User, ntlm_user_lines

EWS_PATH = "/ews/exchange.asmx"
MAX_BODY = 16 * 1024 * 1024          # larger requests are drained and refused with 413

# pyspnego's acceptor reads the credential file named by NTLM_USER_FILE when the AUTHENTICATE message
# arrives; several sandboxes in one process each point it at their own file under this lock.
_NTLM_ENV_LOCK = threading.Lock()


class CredentialTable:
    """The NTLM credential table pyspnego's acceptor reads, held in memory (a memfd), never on disk.

    The passwords' only file is sandbox.json; pyspnego wants a path, and /proc/self/fd/N of an anonymous
    memory file is one (Linux). Rewritten in place when users are added; closed when the server stops.
    """

    def __init__(self) -> None:
        if not hasattr(os, "memfd_create"):
            raise OSError("the sandbox's NTLM acceptor keeps its credentials in memory and needs Linux (memfd)")
        self.fd = os.memfd_create("sandbox-ntlm-users", os.MFD_CLOEXEC)
        self.path = f"/proc/self/fd/{self.fd}"

    def write(self, text: str) -> None:
        data = text.encode("utf-8")
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, data, 0)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class EwsHTTPServer(LoopbackHTTPServer):
    def __init__(self, port: int, service: EwsService, store: Store, tls: ssl.SSLContext | None):
        self.service, self.store = service, store
        self.credentials = CredentialTable()
        super().__init__(port, EwsRequestHandler, tls)

    def write_user_file(self) -> None:
        lines = [line for user in self.store.distinct_users() for line in ntlm_user_lines(user)]
        self.credentials.write("\n".join(lines) + "\n")

    def server_close(self) -> None:
        super().server_close()
        self.credentials.close()


class EwsRequestHandler(QuietHandler):
    server: EwsHTTPServer

    def setup(self) -> None:
        self.ntlm = None
        self.user: User | None = None
        super().setup()

    # --- responses
    def _send(self, status: int, body: bytes, content_type: str = "text/xml; charset=utf-8",
              headers: list[tuple[str, str]] = ()) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-FEServer", "SANDBOX")
        self.end_headers()
        self.wfile.write(body)

    def _unauthorized(self, challenge: str | None = None) -> None:
        headers = [("WWW-Authenticate", challenge)] if challenge else [
            ("WWW-Authenticate", "Negotiate"), ("WWW-Authenticate", "NTLM")]
        self._send(401, b"401 - Unauthorized: Access is denied due to invalid credentials.", "text/html", headers)

    # --- authentication
    def _authenticate(self) -> User | None:
        header = self.headers.get("Authorization", "")
        if self.user is not None and not header:
            return self.user
        if not header.startswith("NTLM "):
            self._unauthorized()
            return None
        try:
            token = base64.b64decode(header[5:], validate=True)
        except ValueError:
            self._unauthorized()
            return None
        try:
            with _NTLM_ENV_LOCK:
                os.environ["NTLM_USER_FILE"] = self.server.credentials.path
                if self.ntlm is None or token[8:12] == b"\x01\x00\x00\x00":
                    self.user = None
                    self.ntlm = spnego.server(protocol="ntlm")
                out = self.ntlm.step(token)
        except spnego.exceptions.SpnegoError:
            self.ntlm = None
            self._unauthorized("NTLM")
            return None
        if not self.ntlm.complete:
            self._unauthorized("NTLM " + base64.b64encode(out or b"").decode())
            return None
        principal = self.ntlm.client_principal or ""
        self.ntlm = None
        self.user = self.server.store.find_user(principal.lstrip("\\"))
        if self.user is None:
            self._unauthorized()
        return self.user

    # --- verbs
    def do_POST(self) -> None:
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self.close_connection = True
            self._send(411, b"Length Required", "text/plain")
            return
        if length > MAX_BODY:
            remaining = length
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                remaining -= len(chunk)
            self._send(413, b"413 - Request Entity Too Large", "text/plain")
            return
        body = self.rfile.read(length)
        user = self._authenticate()
        if user is None:
            return
        if self.path.split("?")[0].lower() != EWS_PATH:
            self._send(404, b"404 - File or directory not found.", "text/html")
            return
        outcome = self.server.service.handle(user, body)
        if outcome.drop:
            self.drop_connection()
            return
        self._send(outcome.status, outcome.body, outcome.content_type)

    def do_GET(self) -> None:
        user = self._authenticate()
        if user is None:
            return
        self._send(405, b"405 - Method Not Allowed: EWS takes SOAP requests by POST.", "text/plain",
                   [("Allow", "POST")])
