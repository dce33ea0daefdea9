"""EWS push notifications (SendNotification, server -> our listener): safe parsing and the replies.

Exchange POSTs ``SendNotification`` envelopes to notification_url; the listener answers each with
``SendNotificationResult/SubscriptionStatus`` ``OK`` (keep sending) or ``Unsubscribe`` (end the push
subscription). exchangelib's ``services.SendNotification`` parses the body and builds both replies.
``EwsPushCodec`` is this format as the agent's listener sees it (``workbench.mailbox.PushCodec``).

The body comes from the network, so it is checked before any XML parser sees it with entities on:
size first (``MAX_BODY``), then any DTD (DOCTYPE / ENTITY declarations: entity expansion bombs, external
entities) is refused, using lxml with entity resolution, DTD loading and network access switched off.
Only then does exchangelib parse it.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone

from exchangelib.errors import EWSError
from exchangelib.services import SendNotification
from lxml import etree

from workbench.mailbox import PushEvent, PushNotification, PushRefused

MAX_BODY = 1024 * 1024               # bytes; a SendNotification with 50 events is a few kB
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
_DTD_RE = re.compile(rb"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)", re.IGNORECASE)


def check_body(body: bytes) -> None:
    """Refuse oversized bodies and any DTD before a full parse (raises PushRefused)."""
    if len(body) > MAX_BODY:
        raise PushRefused(f"body of {len(body)} bytes exceeds {MAX_BODY}", 413)
    if not body.strip():
        raise PushRefused("empty body")
    if _DTD_RE.search(body) or _DTD_RE.search(body.replace(b"\x00", b"")):
        raise PushRefused("DTD / entity declarations are not accepted")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                             huge_tree=False, remove_comments=True, remove_pis=True)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise PushRefused(f"not well-formed XML: {exc}") from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None or tree.docinfo.externalDTD is not None:
        raise PushRefused("DTD / entity declarations are not accepted")
    if any(isinstance(node, etree._Entity) for node in root.iter()):
        raise PushRefused("entity references are not accepted")
    if root.tag != f"{{{SOAP_NS}}}Envelope":
        raise PushRefused("not a SOAP 1.1 envelope")


class EwsPushCodec:
    """``workbench.mailbox.PushCodec`` for EWS SendNotification."""

    max_body = MAX_BODY
    content_type = "text/xml; charset=utf-8"
    ok_status = 200

    def validation_reply(self, query: str) -> bytes | None:
        return None            # EWS has no handshake

    def parse(self, body: bytes) -> list[PushNotification]:
        """The notifications in a SendNotification request body (raises PushRefused)."""
        check_body(body)
        try:
            parsed = list(SendNotification(protocol=None).parse(body))
        except (EWSError, ValueError, TypeError, AttributeError, etree.LxmlError) as exc:
            raise PushRefused(f"not a SendNotification request: {type(exc).__name__}: {exc}"[:300]) from None
        return [_notification(note) for note in parsed]

    def ok_reply(self) -> bytes:
        return SendNotification(protocol=None).ok_payload()

    def unsubscribe_reply(self) -> bytes:
        return SendNotification(protocol=None).unsubscribe_payload()

    def fault_reply(self, reason: str, *, client: bool = True) -> bytes:
        """A SOAP 1.1 fault (Client or Server) carrying ``reason``; built without parsing anything."""
        env = etree.Element(f"{{{SOAP_NS}}}Envelope", nsmap={"s": SOAP_NS})
        body = etree.SubElement(env, f"{{{SOAP_NS}}}Body")
        fault = etree.SubElement(body, f"{{{SOAP_NS}}}Fault")
        etree.SubElement(fault, "faultcode").text = "s:Client" if client else "s:Server"
        etree.SubElement(fault, "faultstring").text = reason[:500]
        return etree.tostring(env, xml_declaration=True, encoding="utf-8")


def _notification(note) -> PushNotification:
    if not getattr(note, "subscription_id", None):
        raise PushRefused("a notification without SubscriptionId")
    events = []
    for ev in note.events or ():
        item = getattr(ev, "item_id", None)
        stamp = getattr(ev, "timestamp", None)
        if stamp is not None:
            stamp = datetime(stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second,
                             tzinfo=timezone.utc).replace(tzinfo=None)
        events.append(PushEvent(type(ev).__name__, getattr(ev, "watermark", None), getattr(item, "id", None), stamp))
    return PushNotification(note.subscription_id, note.previous_watermark, bool(note.more_events), events)
