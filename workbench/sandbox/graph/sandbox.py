"""The Graph sandbox beside the EWS one: same mailboxes, same CA, its own HTTPS port and admin port.

Started by ``Sandbox(graph=True)`` (or ``workbench sandbox --graph``); state in DIR/graph.json (apps with
their secrets and keys, subscriptions, immutable ids, delta epochs; mode 0600), the app's certificate
and key in DIR/graph-app.pem.
"""
from __future__ import annotations

import json
import ssl
import threading
from pathlib import Path
from typing import Any

from ..files import write_private
from ..http_base import serve_in_threads, stop_servers
from ..store import Mailbox, Store
from .admin import GraphAdminServer
from .identity import Identity
from .ids import IdTracker
from .faults import GraphFaults
from .registry import App, Registry
from .routing import GraphApp, GraphRecord
from .server import GraphHTTPServer
from .state import GraphState
from .subscriptions import Subscriptions, Timing
from .throttle import Throttle
from .wire import Request, Response

STATE_FILE = "graph.json"
APP_CERT_FILE = "graph-app.pem"
DEFAULT_APP = "Workbench Sync"


class GraphSandbox:
    def __init__(self, store: Store, state_dir: Path, tls: ssl.SSLContext | None, ca_cert: Path | None,
                 port: int = 0, admin_port: int = 0, capture: bool = False, timing: Timing | None = None,
                 domain: str = "example.com"):
        self.store, self.state_dir, self.tls, self.ca_cert = store, Path(state_dir), tls, ca_cert
        self.port, self.admin_port, self.domain = port, admin_port, domain
        self.registry = Registry()
        self.faults = GraphFaults()
        self.throttle = Throttle()
        self.state: GraphState
        self.subscriptions: Subscriptions
        self.identity: Identity
        self.app: GraphApp
        self.default_client_id = ""
        self.info: dict[str, Any] = {}
        self._capture, self._timing = capture, timing
        self._server: GraphHTTPServer | None = None
        self._admin: GraphAdminServer | None = None
        self._threads: list[threading.Thread] = []

    @property
    def restricted_mailbox(self) -> str:
        return f"restricted@{self.domain}"

    # --- lifecycle
    def start(self) -> "GraphSandbox":
        saved = self._load()
        self._server = GraphHTTPServer(self.port, self._handle, self.tls)
        scheme = "https" if self.tls is not None else "http"
        base = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"
        self.state = GraphState(self.store, self.registry, f"{base}/v1.0")
        self.state.capture.enabled = self._capture
        self.state.check_item = self.faults.check_item
        self.state.ids = IdTracker.from_json(saved.get("ids", {}))
        self.state.epochs = dict(saved.get("epochs", {}))
        self.identity = Identity(self.registry, self.state_dir, base)
        self.subscriptions = Subscriptions(self.state, self._timing)
        self.subscriptions.load(saved.get("subscriptions", []))
        self.app = GraphApp(self.state, self.identity, self.faults, self.throttle, self.subscriptions)
        if not self.default_client_id:
            self._first_start()
        self._admin = GraphAdminServer(self, self.admin_port)
        self._threads = serve_in_threads(((self._server.serve_forever, "sandbox-graph"),
                                          (self._admin.serve_forever, "sandbox-graph-admin")))
        self.subscriptions.start()
        self._write_app_certificate()
        self.info = self._info(base)
        self.save()
        return self

    def _handle(self, request: Request) -> Response:
        return self.app.handle(request)

    def _first_start(self) -> None:
        with self.store.lock:
            if self.store.find_mailbox(self.restricted_mailbox) is None:
                self.store.add_mailbox(Mailbox(self.restricted_mailbox, display_name="Restricted (outside the "
                                                                                     "app's RBAC scope)"))
            scope = sorted(a for a in self.store.mailboxes if a != self.restricted_mailbox)
        self.default_client_id = self.registry.add(DEFAULT_APP, scope=scope).client_id

    def stop(self) -> None:
        if self._server is None:
            return
        self.subscriptions.stop()
        stop_servers(self._server, self._admin, self._threads)
        self._server = None
        self.save()

    # --- persistence
    def _load(self) -> dict[str, Any]:
        path = self.state_dir / STATE_FILE
        if not path.exists():
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
        self.registry = Registry.from_json(data["registry"])
        self.default_client_id = data.get("default_client_id", "")
        return data

    def change_marker(self) -> int:
        """Changes when the Graph state does (for the sandbox's autosave)."""
        with self.store.lock:
            subs = self.subscriptions.to_json()
            return hash((len(self.registry.apps), tuple(sorted(self.state.epochs.items())),
                         tuple((s["id"], s["expiration"], s["notification_url"]) for s in subs),
                         sum(len(m) for m in self.state.ids.by_item.values()),
                         tuple(tuple(a.scope or ()) for a in self.registry.apps.values())))

    def save(self) -> None:
        with self.store.lock:
            data = {"format": 1, "registry": self.registry.to_json(), "default_client_id": self.default_client_id,
                    "ids": self.state.ids.to_json(), "epochs": self.state.epochs,
                    "subscriptions": self.subscriptions.to_json()}
            text = json.dumps(data, separators=(",", ":"))
        write_private(self.state_dir / STATE_FILE, text)

    def _write_app_certificate(self) -> None:
        app = self.default_app
        if app.key_pem and app.cert_pem:
            write_private(self.state_dir / APP_CERT_FILE, app.key_pem + app.cert_pem)

    def _info(self, base: str) -> dict[str, Any]:
        app = self.default_app
        return {"authority": self.identity.authority, "graph_url": f"{base}/v1.0",
                "tenant_id": self.registry.tenant_id, "client_id": app.client_id, "client_secret": app.secret,
                "client_certificate": str(self.state_dir / APP_CERT_FILE), "thumbprint": app.thumbprint,
                "scoped_mailboxes": sorted(app.scope) if app.scope is not None else None,
                "ca_cert": str(self.ca_cert) if self.ca_cert else None,
                "admin_url": f"http://127.0.0.1:{self._admin.server_address[1]}" if self._admin else None}

    # --- test and demo API
    @property
    def default_app(self) -> App:
        return self.registry.apps[self.default_client_id]

    def add_app(self, name: str, roles: tuple[str, ...] | list[str] = ("Contacts.ReadWrite", "Mail.Send"),
                scope: list[str] | None = None, **kwargs: Any) -> App:
        """Register another app (``secret``, ``certificate``, ``expired_certificate``, ``odata_disabled``)."""
        with self.store.lock:
            return self.registry.add(name, roles, scope, **kwargs)

    def set_scope(self, client_id: str, mailboxes: list[str] | None) -> None:
        with self.store.lock:
            self.registry.apps[client_id].scope = [m.lower() for m in mailboxes] if mailboxes is not None else None

    def issue_token(self, app: App, lifetime: int = 3599) -> str:
        """A token as the token endpoint would issue it (a negative lifetime gives an expired one)."""
        return self.identity.issue(app, lifetime=lifetime)

    def invalidate_sync(self, mailbox: str | None = None) -> None:
        mb = self.store.find_mailbox(mailbox) if mailbox else None
        if mailbox and mb is None:
            raise KeyError(mailbox)
        self.state.invalidate_sync(mb)

    @property
    def requests(self) -> list[GraphRecord]:
        with self.app._log_lock:
            return list(self.app.log)

    @property
    def captured(self) -> list[tuple[str, str, Any]]:
        """(direction, CSDL type, JSON) for every body sent or accepted, when started with capture=True."""
        with self.state.capture.lock:
            return list(self.state.capture.bodies)
