"""Admin endpoint: plain JSON over HTTP on loopback, no authentication.

GET /faults, POST /faults (JSON object of settings), POST /faults/clear, GET /requests,
GET /mailboxes, GET /mailboxes/<address>, GET /subscriptions.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from .http_base import AdminHTTPServer, JsonAdminHandler

if TYPE_CHECKING:
    from .sandbox import Sandbox


class AdminServer(AdminHTTPServer):
    def __init__(self, sandbox: "Sandbox", port: int = 0):
        self.sandbox = sandbox
        super().__init__(port, AdminHandler)


class AdminHandler(JsonAdminHandler):
    server: AdminServer

    def do_GET(self) -> None:
        sb = self.server.sandbox
        path = self._path()
        if path == ["faults"]:
            self._json(200, sb.faults.config.to_json())
        elif path == ["requests"]:
            self._json(200, [r.to_json() for r in sb.requests])
        elif path == ["mailboxes"]:
            self._json(200, sb.info.mailboxes)
        elif len(path) == 2 and path[0] == "mailboxes":
            try:
                self._json(200, sb.mailbox(path[1]).to_json())
            except KeyError:
                self._json(404, {"error": f"no mailbox {path[1]}"})
        elif path == ["subscriptions"]:
            self._json(200, sb.subscriptions.snapshot())
        elif path == []:
            self._json(200, {"url": sb.info.url, "version": sb.info.version,
                             "endpoints": ["/faults", "/faults/clear", "/requests", "/mailboxes",
                                           "/mailboxes/<address>", "/subscriptions"]})
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self) -> None:
        sb = self.server.sandbox
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self._path()
        if path == ["faults", "clear"]:
            sb.faults.clear()
            self._json(200, sb.faults.config.to_json())
        elif path == ["faults"]:
            try:
                changes = json.loads(raw or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("expected a JSON object")
                if "deny_impersonation" in changes:
                    changes["deny_impersonation"] = set(changes["deny_impersonation"])
                self._json(200, sb.faults.set(**changes).to_json())
            except (ValueError, TypeError) as exc:
                self._json(400, {"error": str(exc)})
        else:
            self._json(404, {"error": "not found"})
