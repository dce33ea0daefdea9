"""Identifiers Graph shows for the sandbox's mailboxes, folders and items.

The EWS sandbox issues ids as standard base64 of ``SBXI``/``SBXF`` + 24 bytes. Graph's REST id is the
same text made URL-safe (``/`` -> ``-``, ``+`` -> ``_``), as Exchange Online does it. The entry id is
a MAPI-shaped binary (flags, the mailbox's provider GUID, a type, the 24 bytes); immutable ids stay
the same when EWS moves an item (which gives it a new id), tracked by replaying MovedEvents.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import os
import uuid
from typing import Any

from ..store import Mailbox

USER_NAMESPACE = uuid.UUID("9a3bd1c8-61c4-4b7e-9d07-1f1bd6c5a0de")
ITEM_PREFIX, FOLDER_PREFIX = b"SBXI", b"SBXF"
_FLAGS = b"\x00\x00\x00\x00"
_ITEM_TYPE, _IMMUTABLE_TYPE = b"\x07\x00", b"\x07\x01"


@functools.lru_cache(maxsize=65536)
def user_id(primary: str) -> str:
    """The mailbox owner's directory object id (stable: derived from the primary address)."""
    return str(uuid.uuid5(USER_NAMESPACE, primary.lower()))


def rest_id(ews_id: str) -> str:
    return ews_id.replace("/", "-").replace("+", "_")


def ews_id(rest: str) -> str:
    return rest.replace("-", "/").replace("_", "+")


def _raw(ews: str, prefix: bytes) -> bytes | None:
    try:
        data = base64.b64decode(ews, validate=True)
    except (ValueError, TypeError):
        return None
    return data[4:] if data.startswith(prefix) and len(data) == 28 else None


def _provider(mailbox: Mailbox) -> bytes:
    return _provider_of(mailbox.primary)


@functools.lru_cache(maxsize=65536)
def _provider_of(primary: str) -> bytes:
    return hashlib.sha256(b"provider:" + primary.encode()).digest()[:16]


def entry_id(mailbox: Mailbox, ews: str) -> str | None:
    """The entry id (standard base64 of the binary) of an EWS item id, or None when it is not one."""
    raw = _raw(ews, ITEM_PREFIX)
    return None if raw is None else base64.b64encode(_FLAGS + _provider(mailbox) + _ITEM_TYPE + raw).decode()


def ews_from_entry_id(mailbox: Mailbox, entry: str) -> str | None:
    data = _decode_entry(mailbox, entry, _ITEM_TYPE, urlsafe=False)
    return None if data is None else base64.b64encode(ITEM_PREFIX + data).decode()


def _decode_entry(mailbox: Mailbox, text: str, kind: bytes, urlsafe: bool) -> bytes | None:
    try:
        data = (base64.urlsafe_b64decode if urlsafe else base64.b64decode)(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        return None
    head = _FLAGS + _provider(mailbox) + kind
    return data[len(head):] if data.startswith(head) and len(data) == len(head) + 24 else None


class IdTracker:
    """Immutable ids per mailbox: immutable bytes <-> current item id, kept across EWS moves."""

    def __init__(self) -> None:
        self.by_item: dict[str, dict[str, str]] = {}       # mailbox -> item id -> immutable (hex)
        self.by_immutable: dict[str, dict[str, str]] = {}  # mailbox -> immutable (hex) -> item id
        self.moved: dict[str, dict[str, str]] = {}         # mailbox -> old item id -> new item id
        self.seen_event: dict[str, int] = {}

    def _replay(self, mailbox: Mailbox) -> None:
        """Follow the mailbox's MovedEvents since the last call (caller holds the store lock)."""
        box = mailbox.primary
        last = self.seen_event.get(box, mailbox.event_base)
        by_item, by_imm = self.by_item.setdefault(box, {}), self.by_immutable.setdefault(box, {})
        moved = self.moved.setdefault(box, {})
        for event in mailbox.events_after(last):
            if event.type == "MovedEvent" and event.old_item_id:
                moved[event.old_item_id] = event.item_id
                imm = by_item.pop(event.old_item_id, None)
                if imm is not None:
                    by_item[event.item_id] = imm
                    by_imm[imm] = event.item_id
        self.seen_event[box] = mailbox.event_count

    def was_moved(self, mailbox: Mailbox, item_id: str) -> bool:
        self._replay(mailbox)
        return item_id in self.moved.get(mailbox.primary, {})

    def immutable_entry_id(self, mailbox: Mailbox, item_id: str, urlsafe: bool = True) -> str:
        self._replay(mailbox)
        by_item = self.by_item.setdefault(mailbox.primary, {})
        imm = by_item.get(item_id)
        if imm is None:
            imm = os.urandom(24).hex()
            by_item[item_id] = imm
            self.by_immutable.setdefault(mailbox.primary, {})[imm] = item_id
        data = _FLAGS + _provider(mailbox) + _IMMUTABLE_TYPE + bytes.fromhex(imm)
        return (base64.urlsafe_b64encode(data).rstrip(b"=") if urlsafe else base64.b64encode(data)).decode()

    def from_immutable(self, mailbox: Mailbox, text: str, urlsafe: bool = True) -> str | None:
        """The current EWS item id of an immutable (entry) id, or None."""
        self._replay(mailbox)
        data = _decode_entry(mailbox, text, _IMMUTABLE_TYPE, urlsafe)
        return None if data is None else self.by_immutable.get(mailbox.primary, {}).get(data.hex())

    def resolve(self, mailbox: Mailbox, graph_id: str) -> str | None:
        """The EWS item id for a Graph id in a URL: a REST id or a REST immutable id."""
        return self.from_immutable(mailbox, graph_id) if graph_id.startswith("AAAAA") else ews_id(graph_id)

    def to_json(self) -> dict[str, Any]:
        return {"by_item": self.by_item, "moved": self.moved, "seen_event": self.seen_event}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "IdTracker":
        t = cls()
        t.by_item = {mb: dict(m) for mb, m in d.get("by_item", {}).items()}
        t.by_immutable = {mb: {imm: i for i, imm in m.items()} for mb, m in t.by_item.items()}
        t.moved = {mb: dict(m) for mb, m in d.get("moved", {}).items()}
        t.seen_event = dict(d.get("seen_event", {}))
        return t
