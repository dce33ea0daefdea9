"""Admin endpoint of the Graph sandbox: plain JSON over HTTP on loopback, no authentication.

GET /faults, POST /faults (JSON object of settings), POST /faults/clear, GET /requests, GET /apps,
GET /subscriptions, POST /subscriptions/<id>/lifecycle {"event": ...}, POST /sync/invalidate
{"mailbox": address or null}, POST /throttle {"concurrency", "window_requests", "window_seconds"}.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from ..http_base import AdminHTTPServer, JsonAdminHandler

if TYPE_CHECKING:
    from .sandbox import GraphSandbox


class GraphAdminServer(AdminHTTPServer):
    def __init__(self, graph: "GraphSandbox", port: int = 0):
        self.graph = graph
        super().__init__(port, GraphAdminHandler)


class GraphAdminHandler(JsonAdminHandler):
    server: GraphAdminServer

    def do_GET(self) -> None:
        graph, path = self.server.graph, self._path()
        if path == ["faults"]:
            self._json(200, graph.faults.config.to_json())
        elif path == ["requests"]:
            self._json(200, [r.to_json() for r in graph.requests])
        elif path == ["apps"]:
            self._json(200, [{"client_id": a.client_id, "name": a.name, "roles": a.roles, "scope": a.scope,
                              "thumbprint": a.thumbprint} for a in graph.registry.apps.values()])
        elif path == ["subscriptions"]:
            self._json(200, graph.subscriptions.snapshot())
        elif path == []:
            self._json(200, {"graph_url": graph.info["graph_url"], "endpoints": [
                "/faults", "/faults/clear", "/requests", "/apps", "/subscriptions",
                "/subscriptions/<id>/lifecycle", "/sync/invalidate", "/throttle"]})
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self) -> None:
        graph, path = self.server.graph, self._path()
        length = int(self.headers.get("Content-Length") or 0)
        try:
            data = json.loads(self.rfile.read(length) or b"{}") if length else {}
            if not isinstance(data, dict):
                raise ValueError("expected a JSON object")
            if path == ["faults", "clear"]:
                graph.faults.clear()
                self._json(200, graph.faults.config.to_json())
            elif path == ["faults"]:
                self._json(200, graph.faults.set(**data).to_json())
            elif path == ["sync", "invalidate"]:
                graph.invalidate_sync(data.get("mailbox"))
                self._json(200, {"invalidated": data.get("mailbox") or "all"})
            elif path == ["throttle"]:
                graph.throttle.configure(**data)
                self._json(200, {"concurrency": graph.throttle.concurrency,
                                 "window_requests": graph.throttle.window_requests,
                                 "window_seconds": graph.throttle.window_seconds})
            elif len(path) == 3 and path[0] == "subscriptions" and path[2] == "lifecycle":
                graph.subscriptions.lifecycle(path[1], str(data.get("event", "")))
                self._json(200, {"sent": data.get("event")})
            else:
                self._json(404, {"error": "not found"})
        except KeyError as exc:
            self._json(404, {"error": f"no such subscription or mailbox: {exc}"})
        except (ValueError, TypeError) as exc:
            self._json(400, {"error": str(exc)})
