"""What the Graph sandbox's request handlers share: the mailboxes, the tenant, ids, delta epochs."""
from __future__ import annotations

import threading
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable

from ..items import Item
from ..store import Folder, Mailbox, Store
from .ids import IdTracker, ews_id, rest_id, user_id
from .registry import Registry
from .wire import GraphError, Request


@dataclass
class Capture:
    """JSON bodies the sandbox sent or accepted, with the CSDL type each claims (for the referee)."""
    enabled: bool = False
    bodies: list[tuple[str, str, Any]] = field(default_factory=list)   # (direction, type name, JSON)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, direction: str, type_name: str | None, body: Any) -> None:
        if self.enabled and type_name and body is not None and not isinstance(body, bytes):
            with self.lock:
                self.bodies.append((direction, type_name, body))


class GraphState:
    def __init__(self, store: Store, registry: Registry, graph_url: str):
        self.store = store
        self.registry = registry
        self.graph_url = graph_url                       # https://127.0.0.1:PORT/v1.0
        self.ids = IdTracker()
        self.epochs: dict[str, int] = {}                 # folder id -> delta epoch (bumped = states invalid)
        self.capture = Capture()
        self.check_item: Callable[[Item], None] = lambda _item: None    # per-item faults (GraphFaults.check_item)

    def mailbox(self, key: str) -> Mailbox:
        """A mailbox by user id or userPrincipalName (primary address or alias)."""
        mb = self.store.find_mailbox(key)
        if mb is not None:
            return mb
        with self.store.lock:
            for candidate in self.store.mailboxes.values():
                if user_id(candidate.primary) == key.lower():
                    return candidate
        raise GraphError(404, "ErrorInvalidUser", f"The requested user '{key}' is invalid.")

    def folder(self, mb: Mailbox, graph_id: str) -> Folder:
        folder = mb.by_name.get("contacts") if graph_id.lower() == "contacts" else mb.folders.get(ews_id(graph_id))
        if folder is None or folder.folder_class != "IPF.Contact":
            raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        return folder

    def link(self, path: str, query: dict[str, str]) -> str:
        return f"{self.graph_url}{path}?{urllib.parse.urlencode(query, quote_via=urllib.parse.quote)}"

    def context(self, mb: Mailbox, tail: str) -> str:
        return f"{self.graph_url}/$metadata#users('{user_id(mb.primary)}')/{tail}"

    def public_id(self, request: Request, mb: Mailbox, item_id: str) -> str:
        """REST id, or the REST immutable id when the client asked with Prefer: IdType="ImmutableId"."""
        if request.prefer().get("idtype", "").lower() == "immutableid":
            return self.ids.immutable_entry_id(mb, item_id)
        return rest_id(item_id)

    def epoch(self, folder: Folder) -> int:
        return self.epochs.get(folder.id, 0)

    def invalidate_sync(self, mb: Mailbox | None = None) -> None:
        """Make every delta token of the mailbox (or of all mailboxes) answer 410 syncStateNotFound."""
        with self.store.lock:
            for box in [mb] if mb else list(self.store.mailboxes.values()):
                for folder in box.folders.values():
                    self.epochs[folder.id] = self.epochs.get(folder.id, 0) + 1
