"""Mailboxes, folders and their indexes; events; persistence to the state directory.

Per folder: ``order`` keeps item ids in creation order for O(page) paging
(deleted slots are compacted lazily), and a change log of (seq, item id)
drives SyncFolderItems: a sync state holds the last sequence number seen,
deletes stay as tombstones.
"""
from __future__ import annotations

import base64
import bisect
import datetime as dt
import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from .items import Item, fmt_time, new_changekey, new_id
from .files import write_private

WELL_KNOWN = (  # distinguished id, display name, folder class, parent
    ("root", "", "", None),
    ("msgfolderroot", "Top of Information Store", "IPF.Note", "root"),
    ("inbox", "Inbox", "IPF.Note", "msgfolderroot"),
    ("drafts", "Drafts", "IPF.Note", "msgfolderroot"),
    ("outbox", "Outbox", "IPF.Note", "msgfolderroot"),
    ("sentitems", "Sent Items", "IPF.Note", "msgfolderroot"),
    ("deleteditems", "Deleted Items", "IPF.Note", "msgfolderroot"),
    ("contacts", "Contacts", "IPF.Contact", "msgfolderroot"),
    ("calendar", "Calendar", "IPF.Appointment", "msgfolderroot"),
    ("tasks", "Tasks", "IPF.Task", "msgfolderroot"),
    ("notes", "Notes", "IPF.StickyNote", "msgfolderroot"),
    ("journal", "Journal", "IPF.Journal", "msgfolderroot"),
    ("junkemail", "Junk Email", "IPF.Note", "msgfolderroot"),
    # the dumpster (Exchange 2010+): SoftDelete puts items here; FindItem/GetItem reach them
    ("recoverableitemsroot", "Recoverable Items", "", "root"),
    ("recoverableitemsdeletions", "Deletions", "", "recoverableitemsroot"),
)
MAX_EVENTS = 100_000


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass
class Tombstone:
    created_seq: int
    deleted_seq: int


class Folder:
    def __init__(self, fid: str, mailbox: str, name: str | None, display_name: str, folder_class: str,
                 parent_id: str | None):
        self.id, self.mailbox, self.name = fid, mailbox, name
        self.display_name, self.folder_class, self.parent_id = display_name, folder_class, parent_id
        self.items: dict[str, Item] = {}
        self.order: list[str | None] = []
        self.pos: dict[str, int] = {}
        self.holes = 0
        self.seq = 0
        self.log: list[tuple[int, str]] = []     # (seq, item id), ascending; stale entries skipped
        self.latest: dict[str, int] = {}         # item id -> seq of its newest log entry
        self.tombstones: dict[str, Tombstone] = {}
        self.query_cache: dict[Any, tuple[int, list[str]]] = {}

    # --- change tracking
    def _log(self, item_id: str) -> int:
        self.seq += 1
        self.log.append((self.seq, item_id))
        self.latest[item_id] = self.seq
        if len(self.log) > 2 * len(self.latest) + 1024:
            self.log = [(s, i) for s, i in self.log if self.latest.get(i) == s]
        return self.seq

    def add(self, item: Item) -> None:
        item.folder_id = self.id
        self.items[item.id] = item
        self.pos[item.id] = len(self.order)
        self.order.append(item.id)
        item.seq = item.created_seq = self._log(item.id)

    def touch(self, item: Item) -> None:
        item.seq = self._log(item.id)

    def remove(self, item_id: str) -> Item:
        item = self.items.pop(item_id)
        self.order[self.pos.pop(item_id)] = None
        self.holes += 1
        self.tombstones[item_id] = Tombstone(item.created_seq, self._log(item_id))
        return item

    # --- paging
    def ordered_ids(self) -> list[str]:
        if self.holes:
            self.order = [i for i in self.order if i is not None]
            self.pos = {i: n for n, i in enumerate(self.order)}
            self.holes = 0
        return self.order  # type: ignore[return-value]

    # --- sync
    def changes_since(self, seq: int) -> Iterator[tuple[int, str]]:
        start = bisect.bisect_right(self.log, (seq, "\uffff"))
        for s, item_id in self.log[start:]:
            if self.latest.get(item_id) == s:
                yield s, item_id

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "display_name": self.display_name,
                "folder_class": self.folder_class, "parent_id": self.parent_id, "seq": self.seq,
                "items": [self.items[i].to_json() for i in self.ordered_ids()],
                "tombstones": {i: [t.created_seq, t.deleted_seq] for i, t in self.tombstones.items()}}

    @classmethod
    def from_json(cls, d: dict[str, Any], mailbox: str) -> "Folder":
        f = cls(d["id"], mailbox, d["name"], d["display_name"], d["folder_class"], d["parent_id"])
        f.seq = d["seq"]
        entries: list[tuple[int, str]] = []
        for raw in d["items"]:
            item = Item.from_json(raw)
            f.items[item.id] = item
            f.pos[item.id] = len(f.order)
            f.order.append(item.id)
            entries.append((item.seq, item.id))
        for i, (created, deleted) in d["tombstones"].items():
            f.tombstones[i] = Tombstone(created, deleted)
            entries.append((deleted, i))
        f.log = sorted(entries)
        f.latest = {i: s for s, i in f.log}
        return f


@dataclass
class Event:
    number: int
    type: str              # CreatedEvent, ModifiedEvent, DeletedEvent, MovedEvent, CopiedEvent, NewMailEvent
    time: dt.datetime
    item_id: str
    folder_id: str
    old_item_id: str | None = None
    old_folder_id: str | None = None


class Mailbox:
    def __init__(self, primary: str, aliases: tuple[str, ...] = (), display_name: str = "",
                 impersonation_denied: bool = False):
        self.primary = primary.lower()
        self.aliases = tuple(a.lower() for a in aliases)
        self.display_name = display_name or primary.split("@")[0].replace(".", " ").title()
        self.impersonation_denied = impersonation_denied
        self.folders: dict[str, Folder] = {}
        self.by_name: dict[str, Folder] = {}
        self.item_folder: dict[str, str] = {}    # item id -> folder id
        self.events: list[Event] = []
        self.event_base = 0                      # number of the first kept event minus one
        self.event_count = 0
        self.listeners: list[Any] = []
        self._add_well_known()

    def _add_well_known(self) -> None:
        """Create the distinguished folders this mailbox lacks (all of them when new; state from an older
        sandbox may lack the recent ones)."""
        for name, display, cls, parent in WELL_KNOWN:
            if name in self.by_name:
                continue
            fid = self.folder_id_for(name)
            folder = Folder(fid, self.primary, name, display, cls, self.by_name[parent].id if parent else None)
            self.folders[fid] = folder
            self.by_name[name] = folder

    @property
    def sid(self) -> str:
        """A stable Windows security identifier for the mailbox's user (ConnectingSID/SID)."""
        digest = hashlib.sha256(self.primary.encode()).digest()
        parts = [int.from_bytes(digest[i:i + 4], "big") for i in (0, 4, 8)]
        return "S-1-5-21-{}-{}-{}-{}".format(*parts, 1000 + digest[12] * 256 + digest[13])

    def folder_id_for(self, name: str) -> str:
        digest = hashlib.sha256(f"{self.primary}/{name}".encode()).digest()[:24]
        return base64.b64encode(b"SBXF" + digest).decode()

    def children(self, folder_id: str) -> list[Folder]:
        return [f for f in self.folders.values() if f.parent_id == folder_id]

    def item(self, item_id: str) -> Item | None:
        fid = self.item_folder.get(item_id)
        return self.folders[fid].items.get(item_id) if fid else None

    # --- mutations (caller holds the store lock)
    def create(self, folder: Folder, item: Item) -> Item:
        folder.add(item)
        self.item_folder[item.id] = folder.id
        self._event("CreatedEvent", item.id, folder.id)
        if folder.name == "inbox":
            self._event("NewMailEvent", item.id, folder.id)
        return item

    def modified(self, item: Item) -> None:
        item.version += 1
        item.changekey = new_changekey(item.version)
        item.modified = now()
        self.folders[item.folder_id].touch(item)
        self._event("ModifiedEvent", item.id, item.folder_id)

    def delete(self, item: Item) -> None:
        self.folders[item.folder_id].remove(item.id)
        del self.item_folder[item.id]
        self._event("DeletedEvent", item.id, item.folder_id)

    def move(self, item: Item, target: Folder) -> Item:
        """Move to another folder; like Exchange the moved item gets a new id."""
        source = self.folders[item.folder_id]
        source.remove(item.id)
        del self.item_folder[item.id]
        old_id = item.id
        item.id = new_id(b"SBXI")
        item.version += 1
        item.changekey = new_changekey(item.version)
        target.add(item)
        self.item_folder[item.id] = target.id
        self._event("MovedEvent", item.id, target.id, old_id, source.id)
        return item

    def _event(self, kind: str, item_id: str, folder_id: str, old_item: str | None = None,
               old_folder: str | None = None) -> None:
        self.event_count += 1
        self.events.append(Event(self.event_count, kind, now(), item_id, folder_id, old_item, old_folder))
        if len(self.events) > MAX_EVENTS:
            drop = len(self.events) - MAX_EVENTS
            del self.events[:drop]
            self.event_base += drop
        for listener in self.listeners:
            listener(self)

    def events_after(self, number: int) -> list[Event]:
        start = max(0, number - self.event_base)
        return self.events[start:]

    def to_json(self) -> dict[str, Any]:
        return {"primary": self.primary, "aliases": list(self.aliases), "display_name": self.display_name,
                "impersonation_denied": self.impersonation_denied,
                "folders": [f.to_json() for f in self.folders.values()], "event_count": self.event_count}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Mailbox":
        mb = cls(d["primary"], tuple(d["aliases"]), d["display_name"], d["impersonation_denied"])
        mb.folders, mb.by_name = {}, {}
        for fd in d["folders"]:
            folder = Folder.from_json(fd, mb.primary)
            mb.folders[folder.id] = folder
            if folder.name:
                mb.by_name[folder.name] = folder
            for item_id in folder.items:
                mb.item_folder[item_id] = folder.id
        mb._add_well_known()
        mb.event_count = mb.event_base = d.get("event_count", 0)
        return mb


@dataclass
class User:
    username: str           # canonical form, e.g. "svc-sync@example.com"
    password: str
    can_impersonate: bool = False
    mailbox: str | None = None


class Store:
    """All mailboxes and user accounts; one lock guards everything."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.mailboxes: dict[str, Mailbox] = {}     # primary address -> mailbox
        self.addresses: dict[str, str] = {}         # any address or alias (lower) -> primary
        self.users: dict[str, User] = {}            # lower-case principal forms -> user

    # --- mailboxes
    def add_mailbox(self, mailbox: Mailbox) -> Mailbox:
        with self.lock:
            for addr in (mailbox.primary, *mailbox.aliases):
                if addr in self.addresses and self.addresses[addr] != mailbox.primary:
                    raise ValueError(f"address {addr} already belongs to {self.addresses[addr]}")
            self.mailboxes[mailbox.primary] = mailbox
            for addr in (mailbox.primary, *mailbox.aliases):
                self.addresses[addr] = mailbox.primary
            return mailbox

    def find_mailbox_by_sid(self, sid: str) -> Mailbox | None:
        wanted = sid.strip().upper()
        return next((mb for mb in self.mailboxes.values() if mb.sid == wanted), None)

    def find_mailbox(self, address: str) -> Mailbox | None:
        addr = address.strip().lower()
        if addr.startswith("smtp:"):
            addr = addr[5:]
        primary = self.addresses.get(addr)
        return self.mailboxes.get(primary) if primary else None

    # --- users
    def add_user(self, user: User) -> User:
        with self.lock:
            for form in principal_forms(user.username):
                self.users[form] = user
            return user

    def find_user(self, principal: str) -> User | None:
        return self.users.get(principal.lower())

    def distinct_users(self) -> list[User]:
        seen: dict[int, User] = {}
        for u in self.users.values():
            seen[id(u)] = u
        return list(seen.values())

    # --- persistence
    def save(self, path: Path) -> None:
        """Mailboxes only: user accounts and their passwords never go to the state file (the service
        account's password is in sandbox.json; accounts added at run time live for the run)."""
        with self.lock:
            data = {"format": 1, "saved": fmt_time(now()),
                    "mailboxes": [mb.to_json() for mb in self.mailboxes.values()]}
            text = json.dumps(data, separators=(",", ":"))
        write_private(path, text)

    def load(self, path: Path) -> None:
        data = json.loads(path.read_text(encoding="utf-8"))
        for d in data.get("mailboxes", []):
            self.add_mailbox(Mailbox.from_json(d))


def principal_forms(username: str) -> list[str]:
    """Names a user may authenticate as: 'svc@example.com' also as 'EXAMPLE\\svc'; and the reverse."""
    name = username.lower()
    if "\\" in name:
        return [name]
    if "@" in name:
        user, realm = name.split("@", 1)
        return [name, f"{realm.split('.')[0]}\\{user}"]
    return [name]


def ntlm_user_lines(user: User) -> list[str]:
    """Lines for pyspnego's NTLM_USER_FILE."""
    lines = []
    for form in principal_forms(user.username):
        if "\\" in form:
            domain, name = form.split("\\", 1)
            lines.append(f"{domain.upper()}:{name}:{user.password}")
        else:
            lines.append(f":{form}:{user.password}")
    return lines
