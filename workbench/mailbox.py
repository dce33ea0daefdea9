"""The mailbox-backend protocol: the only thing the engine, the agent, verification and ``check`` know about
Exchange.

A backend (``workbench.exchange.backend.EwsBackend`` over EWS; a Graph one beside it) is one service
identity on one Exchange organisation. It opens mailboxes, sends the failure e-mail as the service
identity, probes an operator's address and manages push subscriptions. A ``Mailbox`` is one operator's
contacts folder: snapshot, changes since a stored state, and writes in batches, each item's outcome reported
in input order.

Rows are the mapped contact rows of ``workbench.fields`` (``item_id``, ``change_key``, ``crm_id``,
``categories``, ``private`` and the mapped fields). Every failure a backend raises or returns is a
``WorkbenchError`` with a catalogue code; a transient one may carry the server's back-off as
``err.back_off``; a per-item error says what happened to the item with ``item_problem(err)``.

Backends declare their limits (``BackendLimits``): how many items one request may carry and how many
requests may be in flight per mailbox. The engine batches and schedules within them.

Push notifications arrive at the agent's listener in the backend's wire format; a ``PushCodec``
(``workbench.backends.push_codec``) parses a body into ``PushNotification`` s and builds the replies, so the
agent knows nothing of the format.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterator, Mapping, Protocol, Sequence, runtime_checkable

from workbench import settings
from workbench.errors import WorkbenchError

#: ``item_problem`` values a backend puts on per-item errors
CONFLICT = "conflict"     # the item changed since the change key we sent (never written over)
GONE = "gone"             # no such item (deleted, or moved: a move gives the item a new id)

#: where a delete puts the item: the ``delete_to`` setting's choices
DELETE_TARGETS = settings.DELETE_TARGETS


def item_problem(err: WorkbenchError) -> str | None:
    """CONFLICT, GONE or None for a per-item error a backend returned."""
    return err.context.get("item_problem")  # type: ignore[return-value]


def is_conflict(err: WorkbenchError) -> bool:
    return item_problem(err) == CONFLICT


def is_gone(err: WorkbenchError) -> bool:
    return item_problem(err) == GONE


@dataclass(frozen=True)
class ItemRef:
    """An item a write left in the mailbox: its id and its new change key."""
    item_id: str
    change_key: str


@dataclass(frozen=True)
class Deleted:
    """A contact a delete moved out of the contacts folder, found again by its CRM id (``find_deleted``)."""
    item_id: str
    change_key: str
    place: str                # "deleted-items" | "recoverable-items"
    row: dict[str, Any]


@dataclass(frozen=True)
class BackendLimits:
    max_batch: int            # items per write request (EWS: none but batch_size; Graph $batch: 20)
    max_in_flight: int = 1    # write requests in flight per mailbox


@dataclass(frozen=True)
class BackendInfo:
    """``identify()``: which backend, which server, what it reports."""
    kind: str                 # "ews" | "graph"
    endpoint: str             # exchange_url / Graph endpoint
    server: str               # the product the server reports ("ExchangeSE", "Exchange Online", ...)
    detail: str = ""          # build, API version


@dataclass(frozen=True)
class Probe:
    """What ``probe(address)`` found. status: ok, mailbox-not-found, email-mismatch, impersonation-denied or
    unreachable; code: a catalogue code (None when ok)."""
    status: str
    code: str | None
    primary_address: str | None
    detail: str


@dataclass
class ChangePage:
    """One page of ``changes_since``: rows created or changed, item ids gone, and the state after the page."""
    upserts: list[dict[str, Any]] = field(default_factory=list)
    deleted_item_ids: list[str] = field(default_factory=list)
    state: str | None = None
    last: bool = True          # no more pages for now
    from_state: bool = False   # the request started from a stored state (False: a full enumeration)

    @property
    def changes(self) -> int:
        return len(self.upserts) + len(self.deleted_item_ids)


class StateInvalid(Exception):
    """The server refused the stored state (EWS ErrorInvalidSyncStateData, Graph 410 / resyncRequired):
    start again without one (a full snapshot). ``code``: the catalogue code, when the backend has one."""

    def __init__(self, detail: str = "", code: str | None = None) -> None:
        super().__init__(detail)
        self.code = code


@dataclass(frozen=True)
class Subscription:
    subscription_id: str
    watermark: str = ""        # EWS: the watermark to resume from; Graph: empty
    expires: str | None = None  # ISO timestamp when the server expires it (Graph); None = renewed by status


@runtime_checkable
class Mailbox(Protocol):
    """One operator's contacts folder, opened through the service identity."""

    address: str

    def snapshot(self, batch_size: int) -> list[dict[str, Any]]:
        """Every contact of the folder, mapped fields only, read in pages of ``batch_size``."""

    def changes_since(self, state: str | None, batch_size: int) -> Iterator[ChangePage]:
        """Changes since ``state`` (None: everything), page by page; raises StateInvalid."""

    def find_by_crm_ids(self, crm_ids: Sequence[str], batch_size: int) -> dict[str, list[dict[str, Any]]]:
        """Rows carrying one of ``crm_ids`` in the CRM-id property, by CRM id."""

    def fetch_rows(self, item_ids: Sequence[str]) -> dict[str, dict[str, Any] | None]:
        """Current rows of some items (None = gone); ``row["in_contacts"]`` says whether it is still there."""

    def create(self, payloads: Sequence[Mapping[str, Any]], batch_size: int) -> list[ItemRef | WorkbenchError]:
        """New contacts. payload: ``fields`` (mapped CRM values), ``crm_id``, ``categories``, ``private``."""

    def update(self, updates: Sequence[Mapping[str, Any]], batch_size: int) -> list[ItemRef | WorkbenchError]:
        """Changes that never overwrite a newer edit (a stale change key comes back CONFLICT for that item).

        update: ``item_id``, ``change_key`` (None = unconditional), ``fields`` (None = only CRM id and
        categories), ``crm_id``, ``categories``.
        """

    def delete(self, refs: Sequence[tuple[str, str | None]], batch_size: int,
               delete_to: str = "deleted-items") -> list[bool | WorkbenchError]:
        """Delete items to one of DELETE_TARGETS; True per item deleted."""

    def find_deleted(self, crm_ids: Sequence[str], batch_size: int) -> dict[str, Deleted]:
        """Contacts carrying one of ``crm_ids`` in Deleted Items, else in Recoverable Items (by CRM id)."""

    def restore(self, item_ids: Sequence[str], batch_size: int) -> list[ItemRef | WorkbenchError]:
        """Move deleted items back into the contacts folder; their new ids, in input order."""


@runtime_checkable
class MailboxBackend(Protocol):
    kind: str
    limits: BackendLimits
    request_timeout: float     # seconds one request may take

    def identify(self) -> BackendInfo: ...

    def ping(self) -> None:
        """One authenticated request that needs no mailbox (proves trust and credentials)."""

    def open(self, address: str) -> Mailbox:
        """The operator's mailbox, its contacts folder resolved (proves the service identity may open it)."""

    def probe(self, email: str) -> Probe:
        """Does ``email`` resolve to a mailbox whose primary address equals it, and can we open its contacts?
        Never raises."""

    def send_mail(self, recipients: Sequence[str], subject: str, body: str) -> None:
        """Send a plain-text message as the service identity, keeping a copy in its Sent Items."""

    def subscribe(self, address: str, callback_url: str, frequency_minutes: int,
                  watermark: str | None = None) -> Subscription:
        """Push notifications for ``address``'s contacts folder to ``callback_url``."""

    def renew(self, address: str, subscription: Subscription, callback_url: str,
              frequency_minutes: int) -> Subscription:
        """Keep a subscription alive (EWS: subscribe again from its watermark; Graph: PATCH expiration)."""

    def unsubscribe(self, address: str, subscription: Subscription) -> None:
        """End a subscription (EWS: nothing to send, the listener answers Unsubscribe; Graph: DELETE)."""

    def close(self) -> None: ...


class PushRefused(ValueError):
    """A push body that is not an acceptable notification; ``status`` is the HTTP status to answer."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


#: Graph's lifecycle notifications, as ``PushEvent.kind`` (the agent renews, re-subscribes or catches up by delta)
LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")


@dataclass(frozen=True)
class PushEvent:
    kind: str                       # CreatedEvent, ModifiedEvent, DeletedEvent, MovedEvent, CopiedEvent, StatusEvent, ...
    watermark: str | None
    item_id: str | None = None
    timestamp: datetime | None = None

    @property
    def is_status(self) -> bool:
        return self.kind == "StatusEvent"

    @property
    def is_lifecycle(self) -> bool:
        return self.kind in LIFECYCLE_EVENTS


@dataclass(frozen=True)
class PushNotification:
    subscription_id: str
    previous_watermark: str | None
    more_events: bool
    events: list[PushEvent] = field(default_factory=list)

    @property
    def watermark(self) -> str | None:
        """The newest watermark the notification carries (to store with the subscription)."""
        for event in reversed(self.events):
            if event.watermark:
                return event.watermark
        return self.previous_watermark

    @property
    def has_changes(self) -> bool:
        """True when an item event (not only a status ping) is included."""
        return any(not e.is_status for e in self.events)


@runtime_checkable
class PushCodec(Protocol):
    """The push wire format of a backend, for the agent's listener (the body comes from the network)."""

    max_body: int              # bytes; a larger body is refused before it is read
    content_type: str          # of the replies
    ok_status: int             # HTTP status of ok_reply / unsubscribe_reply (EWS 200, Graph 202)

    def validation_reply(self, query: str) -> bytes | None:
        """The answer (200) to a handshake carried in a request's query string (Graph's ``validationToken``),
        None when the request is not one; raises PushRefused."""

    def parse(self, body: bytes) -> list[PushNotification]:
        """The notifications in a request body; raises PushRefused."""

    def ok_reply(self) -> bytes:
        """The answer that keeps the subscription."""

    def unsubscribe_reply(self) -> bytes:
        """The answer that ends the subscription."""

    def fault_reply(self, reason: str, *, client: bool = True) -> bytes:
        """The answer to a refused body (``client``: the sender's fault, else ours)."""
