"""EWS push notifications (SendNotification, server -> our listener): safe parsing and the replies.

Exchange POSTs ``SendNotification`` envelopes to notification_url; the listener answers each with
``SendNotificationResult/SubscriptionStatus`` ``OK`` (keep sending) or ``Unsubscribe`` (end the push
subscription). exchangelib's ``services.SendNotification`` parses the body and builds both replies.

The body comes from the network, so it is checked before any XML parser sees it with entities on:
size first (``MAX_BODY``), then any DTD (DOCTYPE / ENTITY declarations: entity expansion bombs, external
entities) is refused, using lxml with entity resolution, DTD loading and network access switched off.
Only then does exchangelib parse it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from lxml import etree

MAX_BODY = 1024 * 1024               # bytes; a SendNotification with 50 events is a few kB
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
_DTD_RE = re.compile(rb"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)", re.IGNORECASE)


class NotificationRefused(ValueError):
    """The body is not an acceptable SendNotification; ``status`` is the HTTP status to answer."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class PushEvent:
    kind: str                       # CreatedEvent, ModifiedEvent, DeletedEvent, MovedEvent, CopiedEvent, StatusEvent, ...
    watermark: str | None
    item_id: str | None = None
    timestamp: datetime | None = None

    @property
    def is_status(self) -> bool:
        return self.kind == "StatusEvent"


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


def check_body(body: bytes) -> None:
    """Refuse oversized bodies and any DTD before a full parse (raises NotificationRefused)."""
    if len(body) > MAX_BODY:
        raise NotificationRefused(f"body of {len(body)} bytes exceeds {MAX_BODY}", 413)
    if not body.strip():
        raise NotificationRefused("empty body")
    if _DTD_RE.search(body) or _DTD_RE.search(body.replace(b"\x00", b"")):
        raise NotificationRefused("DTD / entity declarations are not accepted")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                             huge_tree=False, remove_comments=True, remove_pis=True)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise NotificationRefused(f"not well-formed XML: {exc}") from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None or tree.docinfo.externalDTD is not None:
        raise NotificationRefused("DTD / entity declarations are not accepted")
    if any(isinstance(node, etree._Entity) for node in root.iter()):
        raise NotificationRefused("entity references are not accepted")
    if root.tag != f"{{{SOAP_NS}}}Envelope":
        raise NotificationRefused("not a SOAP 1.1 envelope")


def parse_notifications(body: bytes) -> list[PushNotification]:
    """The notifications in a SendNotification request body (raises NotificationRefused)."""
    from exchangelib.errors import EWSError
    from exchangelib.services import SendNotification

    check_body(body)
    try:
        parsed = list(SendNotification(protocol=None).parse(body))
    except (EWSError, ValueError, TypeError, AttributeError, etree.LxmlError) as exc:
        raise NotificationRefused(f"not a SendNotification request: {type(exc).__name__}: {exc}"[:300]) from None
    out: list[PushNotification] = []
    for note in parsed:
        if not getattr(note, "subscription_id", None):
            raise NotificationRefused("a notification without SubscriptionId")
        events = []
        for ev in note.events or ():
            item = getattr(ev, "item_id", None)
            stamp = getattr(ev, "timestamp", None)
            if stamp is not None:
                stamp = datetime(stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second,
                                 tzinfo=timezone.utc).replace(tzinfo=None)
            events.append(PushEvent(type(ev).__name__, getattr(ev, "watermark", None),
                                    getattr(item, "id", None), stamp))
        out.append(PushNotification(note.subscription_id, note.previous_watermark, bool(note.more_events), events))
    return out


def ok_reply() -> bytes:
    from exchangelib.services import SendNotification
    return SendNotification(protocol=None).ok_payload()


def unsubscribe_reply() -> bytes:
    from exchangelib.services import SendNotification
    return SendNotification(protocol=None).unsubscribe_payload()


def fault_reply(reason: str, *, client: bool = True) -> bytes:
    """A SOAP 1.1 fault (Client or Server) carrying ``reason``; built without parsing anything."""
    env = etree.Element(f"{{{SOAP_NS}}}Envelope", nsmap={"s": SOAP_NS})
    body = etree.SubElement(env, f"{{{SOAP_NS}}}Body")
    fault = etree.SubElement(body, f"{{{SOAP_NS}}}Fault")
    etree.SubElement(fault, "faultcode").text = "s:Client" if client else "s:Server"
    etree.SubElement(fault, "faultstring").text = reason[:500]
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")
