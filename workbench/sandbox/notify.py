"""Subscriptions (push and pull), GetEvents, Unsubscribe, and the event rendering both share."""
from __future__ import annotations

import base64
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from lxml import etree

from .context import Context
from .items import FOLDER_CK, fmt_time
from .soap import EwsError, Responses, m, sub, t
from .store import Event, Mailbox, Store

if TYPE_CHECKING:
    from .push import PushSender

EVENT_TYPES = ("CopiedEvent", "CreatedEvent", "DeletedEvent", "ModifiedEvent", "MovedEvent", "NewMailEvent",
               "FreeBusyChangedEvent")
MAX_EVENTS_PER_NOTIFICATION = 50


def encode_watermark(mailbox: str, number: int) -> str:
    return base64.b64encode(f"{mailbox}|{number}".encode()).decode()


def decode_watermark(mailbox: Mailbox, watermark: str) -> int:
    try:
        owner, number = base64.b64decode(watermark, validate=True).decode().rsplit("|", 1)
        value = int(number)
    except (ValueError, UnicodeDecodeError):
        raise EwsError("ErrorInvalidWatermark", "The watermark is invalid.") from None
    if owner != mailbox.primary or value > mailbox.event_count or value < mailbox.event_base:
        raise EwsError("ErrorInvalidWatermark", "The watermark is invalid or has expired.")
    return value


@dataclass
class Subscription:
    id: str
    kind: str                        # "push" or "pull"
    mailbox: Mailbox
    folder_ids: set[str] | None      # None = all folders
    event_types: set[str]
    cursor: int                      # number of the last event delivered
    url: str = ""
    status_frequency: int = 30       # minutes (push)
    timeout: int = 30                # minutes (pull)
    last_poll: float = field(default_factory=time.monotonic)
    ended: threading.Event = field(default_factory=threading.Event)

    def matches(self, ev: Event) -> bool:
        if ev.type not in self.event_types:
            return False
        return self.folder_ids is None or ev.folder_id in self.folder_ids or ev.old_folder_id in self.folder_ids

    def pending(self) -> tuple[list[Event], int, bool]:
        """Matching events after the cursor (at most one notification's worth), the new cursor, more-flag."""
        events = self.mailbox.events_after(self.cursor)
        chosen: list[Event] = []
        cursor = self.cursor
        for ev in events:
            if len(chosen) >= MAX_EVENTS_PER_NOTIFICATION:
                return chosen, cursor, True
            cursor = ev.number
            if self.matches(ev):
                chosen.append(ev)
        return chosen, cursor, False


def render_notification(parent: etree._Element, sub_: Subscription, previous: int, events: list[Event],
                        cursor: int, more: bool) -> None:
    mb = sub_.mailbox.primary
    note = sub(parent, m("Notification"))
    sub(note, t("SubscriptionId"), sub_.id)
    sub(note, t("PreviousWatermark"), encode_watermark(mb, previous))
    sub(note, t("MoreEvents"), "true" if more else "false")
    if not events:
        sub(sub(note, t("StatusEvent")), t("Watermark"), encode_watermark(mb, cursor))
    for ev in events:
        node = sub(note, t(ev.type))
        sub(node, t("Watermark"), encode_watermark(mb, ev.number))
        sub(node, t("TimeStamp"), fmt_time(ev.time))
        sub(node, t("ItemId"), Id=ev.item_id)
        sub(node, t("ParentFolderId"), Id=ev.folder_id, ChangeKey=FOLDER_CK)
        if ev.type in ("MovedEvent", "CopiedEvent"):
            sub(node, t("OldItemId"), Id=ev.old_item_id or "")
            sub(node, t("OldParentFolderId"), Id=ev.old_folder_id or "", ChangeKey=FOLDER_CK)


class Subscriptions:
    """Registry of live subscriptions; push ones get a sender thread."""

    def __init__(self, store: Store, push_factory: Callable[[Subscription], "PushSender"]):
        self.store = store
        self.push_factory = push_factory
        self.lock = threading.Lock()
        self.live: dict[str, Subscription] = {}
        self.senders: dict[str, "PushSender"] = {}

    def add(self, sub_: Subscription) -> None:
        with self.lock:
            self.live[sub_.id] = sub_
        if sub_.kind == "push":
            sender = self.push_factory(sub_)
            with self.lock:
                self.senders[sub_.id] = sender
            sender.start()

    def end(self, sid: str) -> None:
        with self.lock:
            sub_ = self.live.pop(sid, None)
            sender = self.senders.pop(sid, None)
        if sub_ is not None:
            sub_.ended.set()
        if sender is not None:
            sender.wake.set()

    def get(self, sid: str) -> Subscription | None:
        with self.lock:
            return self.live.get(sid)

    def stop_all(self) -> None:
        with self.lock:
            senders = list(self.senders.values())
            ids = list(self.live)
        for sid in ids:
            self.end(sid)
        for sender in senders:
            sender.join(timeout=5)

    def snapshot(self) -> list[dict[str, object]]:
        with self.lock:
            return [{"id": s.id, "kind": s.kind, "mailbox": s.mailbox.primary, "url": s.url,
                     "status_frequency": s.status_frequency, "cursor": s.cursor} for s in self.live.values()]


# ---------------------------------------------------------------- operations

def subscribe(ctx: Context, op: etree._Element) -> Responses:
    out = Responses("Subscribe")
    try:
        request = next(iter(op), None)
        if request is None:
            raise EwsError("ErrorInvalidSubscriptionRequest", "Subscribe needs a subscription request.")
        kind = {"PushSubscriptionRequest": "push", "PullSubscriptionRequest": "pull"}.get(etree.QName(request).localname)
        if kind is None:
            raise EwsError("ErrorInvalidSubscriptionRequest",
                           "Only push and pull subscriptions are offered by the sandbox.")
        with ctx.store.lock:
            mailbox = ctx.require_mailbox()
            folders = request.find(t("FolderIds"))
            folder_ids = None if request.get("SubscribeToAllFolders") == "true" or folders is None else {
                ctx.folder(ref).id for ref in folders}
            types = {e.text or "" for e in request.iterfind(f"{t('EventTypes')}/{t('EventType')}")}
            unknown = types - set(EVENT_TYPES)
            if not types or unknown:
                raise EwsError("ErrorInvalidSubscriptionRequest", f"Bad event types {sorted(unknown)}.")
            watermark = request.findtext(t("Watermark"))
            cursor = decode_watermark(mailbox, watermark) if watermark else mailbox.event_count
            sub_ = Subscription(id=base64.b64encode(uuid.uuid4().bytes + b"SBXS").decode(), kind=kind,
                                mailbox=mailbox, folder_ids=folder_ids, event_types=types, cursor=cursor)
            if kind == "push":
                sub_.url = (request.findtext(t("URL")) or "").strip()
                if not sub_.url.lower().startswith(("http://", "https://")):
                    raise EwsError("ErrorInvalidPushSubscriptionUrl", "The push subscription URL is invalid.")
                sub_.status_frequency = int(request.findtext(t("StatusFrequency")) or "30")
                if not 1 <= sub_.status_frequency <= 1440:
                    raise EwsError("ErrorInvalidSubscriptionRequest", "StatusFrequency must be 1..1440 minutes.")
            else:
                sub_.timeout = int(request.findtext(t("Timeout")) or "30")
                if not 1 <= sub_.timeout <= 1440:
                    raise EwsError("ErrorInvalidSubscriptionRequest", "Timeout must be 1..1440 minutes.")
        ctx.subscriptions.add(sub_)
        msg = out.success()
        sub(msg, m("SubscriptionId"), sub_.id)
        sub(msg, m("Watermark"), encode_watermark(mailbox.primary, cursor))
    except EwsError as err:
        out.error(err)
    return out


def _own_subscription(ctx: Context, sid: str) -> Subscription:
    sub_ = ctx.subscriptions.get(sid)
    if sub_ is None or sub_.mailbox is not ctx.mailbox:
        raise EwsError("ErrorSubscriptionNotFound", "The specified subscription was not found.")
    if sub_.kind == "pull" and time.monotonic() - sub_.last_poll > sub_.timeout * ctx.minute_seconds:
        ctx.subscriptions.end(sid)
        raise EwsError("ErrorSubscriptionNotFound", "The subscription has expired.")
    return sub_


def get_events(ctx: Context, op: etree._Element) -> Responses:
    out = Responses("GetEvents")
    try:
        sid = (op.findtext(m("SubscriptionId")) or "").strip()
        with ctx.store.lock:
            sub_ = _own_subscription(ctx, sid)
            if sub_.kind != "pull":
                raise EwsError("ErrorInvalidSubscription", "GetEvents is for pull subscriptions.")
            previous = decode_watermark(sub_.mailbox, (op.findtext(m("Watermark")) or "").strip())
            sub_.cursor = previous
            events, cursor, more = sub_.pending()
            sub_.cursor = cursor
            sub_.last_poll = time.monotonic()
            render_notification(out.success(), sub_, previous, events, cursor, more)
    except EwsError as err:
        out.error(err)
    return out


def unsubscribe(ctx: Context, op: etree._Element) -> Responses:
    out = Responses("Unsubscribe")
    try:
        sid = (op.findtext(m("SubscriptionId")) or "").strip()
        sub_ = _own_subscription(ctx, sid)
        if sub_.kind == "push":
            raise EwsError("ErrorInvalidSubscription",
                           "Push subscriptions end when the listener answers Unsubscribe.")
        ctx.subscriptions.end(sid)
        out.success()
    except EwsError as err:
        out.error(err)
    return out
