"""An in-memory ``workbench.mailbox.MailboxBackend`` that behaves as Exchange does for the sync's operations.

Semantics modelled on the EWS backend (``workbench/exchange/backend.py``, ``mailbox_ops.py``):

* every write gives the item a new change key; an update carrying a stale change key is refused for that
  item (``item_problem`` CONFLICT), one naming a missing id comes back GONE, and so does a delete;
* a move (a user's delete, a delete to Deleted Items or Recoverable Items, a restore) gives the item a new
  id, as Exchange does; a hard delete removes it;
* values are cleaned both ways as the EWS mapping does (``workbench.fields.clean_value``);
* a request of n items is sent in chunks of ``batch_size`` (exchangelib's chunking): a fault on a later
  chunk leaves the earlier chunks applied and their answers lost.

Faults (``Faults``, per mailbox, armed by the test): transient errors (EWS_THROTTLED with a back-off hint)
on the next requests, per-item rejections, "applied but the answer was lost" (EWS_TIMEOUT after the write),
and a crash (``InjectedCrash``, not a ``WorkbenchError``) before or after a write is applied. A
``FakeClock`` can be advanced by every throttled request, so a deadline passes without waiting.

Every item a write applied is recorded in ``MemoryBackend.writes`` (kind, mailbox, CRM id), every request
in ``requests`` and every failure e-mail in ``sent``.
"""
from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Sequence

from workbench.errors import WorkbenchError
from workbench.fields import CONTACT_FIELDS, clean_value
from workbench.mailbox import (CONFLICT, DELETE_TARGETS, GONE, BackendInfo, BackendLimits, ChangePage, Deleted,
                               ItemRef, Probe, StateInvalid, Subscription)

CONTACTS = "contacts"
WRITE_KINDS = ("create", "update", "stamp", "delete")


class InjectedCrash(Exception):
    """The process 'dies' inside a request: not a catalogue error, so the engine treats it as a bug."""


class FakeClock:
    """A monotonic clock that moves only when told (the deadline clock of ``run_sync``)."""

    def __init__(self) -> None:
        self.now = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


@dataclass
class Faults:
    """What goes wrong in one mailbox; counters are used up request by request."""
    throttle: int = 0                     # the next N requests raise EWS_THROTTLED (nothing applied)
    throttle_forever: bool = False        # every request is throttled (a deadline must end the run)
    lost_answers: int = 0                 # the next N write requests are applied, then answer EWS_TIMEOUT
    reject: set[str] = field(default_factory=set)   # CRM ids whose writes come back EWS_ITEM_REJECTED
    crash_before_write: int | None = None  # raise InjectedCrash on this write request (0 = the next), unapplied
    crash_after_write: int | None = None   # the same, after the write request was applied
    writes_seen: int = 0

    @property
    def armed(self) -> bool:
        return bool(self.throttle or self.throttle_forever or self.lost_answers or self.reject
                    or self.crash_before_write is not None or self.crash_after_write is not None)


def _row(item: Mapping[str, Any]) -> dict[str, Any]:
    """The mapped row a read returns (what ``mapping.contact_to_row`` gives for a Contact)."""
    row = {f: item.get(f) for f in CONTACT_FIELDS}
    row.update({"item_id": item["item_id"], "change_key": item["change_key"], "crm_id": item.get("crm_id"),
                "categories": list(item.get("categories") or []), "private": bool(item.get("private"))})
    return row


def _item_error(code: str, detail: str, mailbox: str, problem: str | None = None) -> WorkbenchError:
    err = WorkbenchError(code, detail, mailbox=mailbox)
    if problem is not None:
        err.context["item_problem"] = problem
    return err


class MemoryMailbox:
    """One operator's mailbox: the Contacts folder, Deleted Items and Recoverable Items."""

    def __init__(self, backend: "MemoryBackend", address: str) -> None:
        self.backend, self.address = backend, address
        self.items: dict[str, dict[str, Any]] = {}      # item_id -> item (with "folder")
        self.faults = Faults()
        self._ids = itertools.count(1)
        self._keys = itertools.count(1)
        self._seq = itertools.count(1)
        self._changed: dict[str, int] = {}            # item_id -> sequence number of its last change
        self.state_epoch = 0                           # bumped to make every stored state invalid

    # --- bookkeeping -------------------------------------------------------------
    def _new_id(self) -> str:
        return f"{self.address.split('@')[0]}-{next(self._ids)}"

    def _touch(self, item: dict[str, Any]) -> None:
        item["change_key"] = f"ck-{next(self._keys)}"
        self._changed_in_contacts(item)

    def _changed_in_contacts(self, item: Mapping[str, Any]) -> None:
        """SyncFolderItems on Contacts reports only what happens to items in (or leaving) that folder."""
        if item["folder"] == CONTACTS:
            self._changed[item["item_id"]] = next(self._seq)

    def _put(self, values: Mapping[str, Any], folder: str = CONTACTS) -> dict[str, Any]:
        item = {f: clean_value(values.get(f)) for f in CONTACT_FIELDS}
        item.update({"item_id": self._new_id(), "crm_id": clean_value(values.get("crm_id")),
                     "categories": list(dict.fromkeys(values.get("categories") or [])),
                     "private": bool(values.get("private")), "folder": folder})
        self.items[item["item_id"]] = item
        self._touch(item)
        return item

    def _move(self, item_id: str, folder: str) -> dict[str, Any]:
        """A move gives the item a new id (and change key); the old id is gone."""
        old = self.items.pop(item_id)
        self._changed_in_contacts(old)
        return self._put({**old, "folder": folder}, folder)

    def _live(self, item_id: str) -> dict[str, Any] | None:
        item = self.items.get(item_id)
        return item if item is not None and item["folder"] == CONTACTS else None

    def contacts(self) -> list[dict[str, Any]]:
        return [_row(i) for i in self.items.values() if i["folder"] == CONTACTS]

    # --- faults ------------------------------------------------------------------
    def _request(self, op: str, n: int = 0) -> None:
        """One request reaches the server: record it, then raise the transient fault armed for it."""
        self.backend.requests.append((self.address, op, n))
        f = self.faults
        if f.throttle_forever or f.throttle > 0:
            f.throttle = max(0, f.throttle - 1)
            self.backend.clock.advance(self.backend.throttle_seconds)
            raise WorkbenchError("EWS_THROTTLED", f"{op}: the server is busy (injected)", mailbox=self.address,
                                 back_off=self.backend.back_off)

    def _write_request(self, op: str, n: int) -> bool:
        """Before a write chunk: throttling and a crash before it; True when its answer is to be lost."""
        self._request(op, n)
        f = self.faults
        number = f.writes_seen
        f.writes_seen += 1
        if f.crash_before_write is not None and number >= f.crash_before_write:
            f.crash_before_write = None
            raise InjectedCrash(f"{op}: crash before the write (injected)")
        if f.lost_answers > 0:
            f.lost_answers -= 1
            return True
        return False

    def _after_write(self, op: str, lose: bool) -> None:
        f = self.faults
        if f.crash_after_write is not None and f.writes_seen - 1 >= f.crash_after_write:
            f.crash_after_write = None
            raise InjectedCrash(f"{op}: crash after the write was applied (injected)")
        if lose:
            raise WorkbenchError("EWS_TIMEOUT", f"{op}: applied, but the answer was lost (injected)",
                                 mailbox=self.address)

    def _chunks(self, op: str, things: Sequence[Any], batch_size: int, one) -> list[Any]:
        if batch_size > self.backend.limits.max_batch:
            raise AssertionError(f"{op}: batch of {batch_size} over the declared limit")
        out: list[Any] = []
        for start in range(0, len(things), max(1, batch_size)):
            chunk = things[start:start + batch_size]
            with self.backend.lock:
                lose = self._write_request(op, len(chunk))
                out += [one(x) for x in chunk]
                self._after_write(op, lose)
        return out

    def _rejected(self, crm_id: str | None) -> WorkbenchError | None:
        if crm_id is not None and crm_id in self.faults.reject:
            return _item_error("EWS_ITEM_REJECTED", f"item for {crm_id} refused (injected)", self.address)
        return None

    def _applied(self, kind: str, item: Mapping[str, Any]) -> None:
        self.backend.writes.append((kind, self.address, item.get("crm_id"), item["item_id"]))

    # --- the Mailbox protocol ----------------------------------------------------------
    def snapshot(self, batch_size: int) -> list[dict[str, Any]]:
        with self.backend.lock:
            self._request("FindItem")
            return self.contacts()

    def changes_since(self, state: str | None, batch_size: int) -> Iterator[ChangePage]:
        with self.backend.lock:
            self._request("SyncFolderItems")
            since = 0
            if state is not None:
                epoch, _, seq = state.partition(":")
                if epoch != str(self.state_epoch) or not seq.isdigit():
                    raise StateInvalid(f"{self.address}: sync state {state!r} refused")
                since = int(seq)
            changed = sorted((s, i) for i, s in self._changed.items() if s > since)
            if state is None:
                changed = [(s, i) for s, i in changed if self._live(i)]
            pages = [changed[k:k + max(1, batch_size)] for k in range(0, len(changed), max(1, batch_size))] or [[]]
            out = []
            for n, page in enumerate(pages):
                last_seq = page[-1][0] if page else since
                live = [self._live(i) for _, i in page]
                out.append(ChangePage(upserts=[_row(i) for i in live if i is not None],
                                      deleted_item_ids=[i for (_, i), x in zip(page, live) if x is None],
                                      state=f"{self.state_epoch}:{last_seq}", last=n == len(pages) - 1,
                                      from_state=state is not None))
        yield from out

    def find_by_crm_ids(self, crm_ids: Sequence[str], batch_size: int) -> dict[str, list[dict[str, Any]]]:
        with self.backend.lock:
            self._request("FindItem", len(crm_ids))
            wanted = set(crm_ids)
            found: dict[str, list[dict[str, Any]]] = {}
            for row in self.contacts():
                if row["crm_id"] in wanted:
                    found.setdefault(row["crm_id"], []).append(row)
            return found

    def fetch_rows(self, item_ids: Sequence[str]) -> dict[str, dict[str, Any] | None]:
        with self.backend.lock:
            self._request("GetItem", len(item_ids))
            out: dict[str, dict[str, Any] | None] = {}
            for item_id in item_ids:
                item = self.items.get(item_id)
                out[item_id] = None if item is None else {**_row(item), "in_contacts": item["folder"] == CONTACTS}
            return out

    def create(self, payloads: Sequence[Mapping[str, Any]], batch_size: int) -> list[ItemRef | WorkbenchError]:
        def one(p: Mapping[str, Any]) -> ItemRef | WorkbenchError:
            refused = self._rejected(p.get("crm_id"))
            if refused is not None:
                return refused
            item = self._put({**p["fields"], "crm_id": p["crm_id"], "categories": p["categories"],
                              "private": p.get("private")})
            self._applied("create", item)
            return ItemRef(item["item_id"], item["change_key"])
        return self._chunks("CreateItem", list(payloads), batch_size, one)

    def update(self, updates: Sequence[Mapping[str, Any]], batch_size: int) -> list[ItemRef | WorkbenchError]:
        def one(u: Mapping[str, Any]) -> ItemRef | WorkbenchError:
            item = self.items.get(u["item_id"])
            if item is None:
                return _item_error("EWS_ITEM_REJECTED", f"no item {u['item_id']}", self.address, GONE)
            if u.get("change_key") is not None and u["change_key"] != item["change_key"]:
                return _item_error("EWS_CONFLICT", f"{u['item_id']}: change key {u['change_key']} is stale",
                                   self.address, CONFLICT)
            refused = self._rejected(u.get("crm_id") or item.get("crm_id"))
            if refused is not None:
                return refused
            if u.get("fields") is not None:
                item.update({f: clean_value(u["fields"].get(f)) for f in CONTACT_FIELDS})
            item["crm_id"] = clean_value(u.get("crm_id"))
            item["categories"] = list(dict.fromkeys(u.get("categories") or []))
            self._touch(item)
            self._applied("update" if u.get("fields") is not None else "stamp", item)
            return ItemRef(item["item_id"], item["change_key"])
        return self._chunks("UpdateItem", list(updates), batch_size, one)

    def delete(self, refs: Sequence[tuple[str, str | None]], batch_size: int,
               delete_to: str = "deleted-items") -> list[bool | WorkbenchError]:
        if delete_to not in DELETE_TARGETS:
            raise AssertionError(f"delete_to={delete_to!r}")

        def one(ref: tuple[str, str | None]) -> bool | WorkbenchError:
            item = self.items.get(ref[0])
            if item is None:
                return _item_error("EWS_ITEM_REJECTED", f"no item {ref[0]}", self.address, GONE)
            refused = self._rejected(item.get("crm_id"))
            if refused is not None:
                return refused
            self._applied("delete", item)
            if delete_to == "hard":
                self._changed_in_contacts(self.items.pop(ref[0]))
            else:
                self._move(ref[0], delete_to)
            return True
        return self._chunks("DeleteItem", list(refs), batch_size, one)

    def find_deleted(self, crm_ids: Sequence[str], batch_size: int) -> dict[str, Deleted]:
        with self.backend.lock:
            self._request("FindItem", len(crm_ids))
            wanted, found = set(crm_ids), {}
            for place in ("deleted-items", "recoverable-items"):      # Deleted Items first, as Exchange's undo looks
                for item in self.items.values():
                    if item["folder"] == place and item["crm_id"] in wanted and item["crm_id"] not in found:
                        found[item["crm_id"]] = Deleted(item["item_id"], item["change_key"], place, _row(item))
            return found

    def restore(self, item_ids: Sequence[str], batch_size: int) -> list[ItemRef | WorkbenchError]:
        def one(item_id: str) -> ItemRef | WorkbenchError:
            if item_id not in self.items:
                return _item_error("EWS_ITEM_REJECTED", f"no item {item_id}", self.address, GONE)
            moved = self._move(item_id, CONTACTS)
            return ItemRef(moved["item_id"], moved["change_key"])
        return self._chunks("MoveItem", list(item_ids), batch_size, one)

    # --- what a person does in Outlook (no request, no fault) ------------------------------
    def user_create(self, *, categories: Sequence[str], private: bool = False, crm_id: str | None = None,
                    **fields: Any) -> str:
        with self.backend.lock:
            return self._put({**fields, "categories": list(categories), "private": private,
                              "crm_id": crm_id})["item_id"]

    def user_edit(self, item_id: str, **changes: Any) -> None:
        with self.backend.lock:
            item = self.items[item_id]
            for key, value in changes.items():
                item[key] = list(value) if key == "categories" else clean_value(value)
            self._touch(item)

    def user_delete(self, item_id: str) -> str:
        """Outlook's delete: the item moves to Deleted Items (a new id)."""
        with self.backend.lock:
            return self._move(item_id, "deleted-items")["item_id"]

    def user_restore(self, item_id: str) -> str:
        """Move an item back to Contacts from Deleted or Recoverable Items (a new id, the CRM id kept)."""
        with self.backend.lock:
            return self._move(item_id, CONTACTS)["item_id"]

    def in_folder(self, folder: str) -> list[str]:
        return [i for i, item in self.items.items() if item["folder"] == folder]


class MemoryBackend:
    """One service identity on an in-memory organisation: mailboxes by address, the e-mails it sent."""

    kind = "memory"

    def __init__(self, *, batch_size: int = 512, clock: FakeClock | None = None, back_off: float = 0.001,
                 throttle_seconds: float = 30.0) -> None:
        self.limits = BackendLimits(max_batch=batch_size, max_in_flight=1)
        self.request_timeout = 60.0
        self.clock = clock or FakeClock()
        self.back_off, self.throttle_seconds = back_off, throttle_seconds
        self.lock = threading.RLock()
        self.mailboxes: dict[str, MemoryMailbox] = {}
        self.requests: list[tuple[str, str, int]] = []
        self.writes: list[tuple[str, str, str | None, str]] = []   # (kind, mailbox, crm_id, item_id) applied
        self.sent: list[tuple[list[str], str, str]] = []
        self.subscriptions: dict[str, Subscription] = {}
        self.send_faults = Faults()

    def add_mailbox(self, address: str) -> MemoryMailbox:
        box = self.mailboxes[address.lower()] = MemoryMailbox(self, address)
        return box

    def mailbox(self, address: str) -> MemoryMailbox:
        return self.mailboxes[address.lower()]

    def disarm(self) -> None:
        for box in self.mailboxes.values():
            box.faults = Faults()
        self.send_faults = Faults()

    # --- the MailboxBackend protocol ----------------------------------------------------
    def identify(self) -> BackendInfo:
        return BackendInfo(kind=self.kind, endpoint="memory:", server="in-memory Exchange")

    def ping(self) -> None:
        self.requests.append(("", "ping", 0))

    def open(self, address: str) -> MemoryMailbox:
        box = self.mailboxes.get(address.lower())
        if box is None:
            self.requests.append((address, "GetFolder", 0))
            raise WorkbenchError("EWS_MAILBOX_NOT_FOUND", f"no mailbox {address}", mailbox=address)
        with self.lock:
            box._request("GetFolder")
        return box

    def probe(self, email: str) -> Probe:
        box = self.mailboxes.get(email.lower())
        if box is None:
            return Probe("mailbox-not-found", "EWS_MAILBOX_NOT_FOUND", None, f"no mailbox {email}")
        return Probe("ok", None, box.address, "")

    def send_mail(self, recipients: Sequence[str], subject: str, body: str) -> None:
        with self.lock:
            self.requests.append(("", "SendItem", len(recipients)))
            if self.send_faults.throttle_forever or self.send_faults.throttle > 0:
                self.send_faults.throttle = max(0, self.send_faults.throttle - 1)
                raise WorkbenchError("EWS_THROTTLED", "SendItem: the server is busy (injected)",
                                     back_off=self.back_off)
            self.sent.append((list(recipients), subject, body))

    def subscribe(self, address: str, callback_url: str, frequency_minutes: int,
                  watermark: str | None = None) -> Subscription:
        sub = Subscription(f"sub-{len(self.subscriptions) + 1}", watermark or "wm-0")
        self.subscriptions[address.lower()] = sub
        return sub

    def renew(self, address: str, subscription: Subscription, callback_url: str,
              frequency_minutes: int) -> Subscription:
        return self.subscribe(address, callback_url, frequency_minutes, subscription.watermark or None)

    def unsubscribe(self, address: str, subscription: Subscription) -> None:
        self.subscriptions.pop(address.lower(), None)

    def close(self) -> None:
        """Nothing to release; the test owns the backend across runs."""
