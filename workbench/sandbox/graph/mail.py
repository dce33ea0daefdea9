"""The mailbox owner as a directory user, and ``POST /users/{id}/sendMail`` (failure e-mails): the
message is delivered to local recipients' Inbox and saved to Sent Items, as EWS SendAndSaveCopy does."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from lxml import etree

from ..items import Item, new_id
from ..ops_items import _deliver, _set_sender
from ..soap import sub, t
from ..store import Mailbox, now
from .ids import user_id
from .state import GraphState
from .wire import GraphError, Request, Response


def user(g: GraphState, mb: Mailbox) -> Response:
    body = {"@odata.context": f"{g.graph_url}/$metadata#users/$entity", "id": user_id(mb.primary),
            "displayName": mb.display_name, "mail": mb.primary, "userPrincipalName": mb.primary}
    return Response(200, body, type_name="microsoft.graph.user")


def _recipients(name: str, value: Any) -> etree._Element | None:
    if value in (None, []):
        return None
    if not isinstance(value, list):
        raise GraphError(400, "ErrorInvalidRecipients", f"message.{name} must be a collection of recipients.")
    node = etree.Element(t(name[0].upper() + name[1:]))
    for entry in value:
        address = (entry.get("emailAddress") or {}).get("address") if isinstance(entry, dict) else None
        if not isinstance(address, str) or "@" not in address:
            raise GraphError(400, "ErrorInvalidRecipients", f"message.{name}: each recipient needs "
                                                            "emailAddress.address (an e-mail address).")
        box = sub(node, t("Mailbox"))
        sub(box, t("Name"), entry["emailAddress"].get("name") or address)
        sub(box, t("EmailAddress"), address)
        sub(box, t("RoutingType"), "SMTP")
    return node


def send_mail(g: GraphState, request: Request, mb: Mailbox) -> Response:
    data = {k.lower(): v for k, v in request.json_object().items()}
    message = data.get("message")
    if not isinstance(message, dict):
        raise GraphError(400, "ErrorInvalidParameter", "sendMail needs a 'message' object.")
    stamp = now()
    item = Item(id=new_id(b"SBXI"), kind="Message", folder_id="", created=stamp, modified=stamp)
    if not isinstance(message.get("subject", ""), str):
        raise GraphError(400, "RequestBodyRead", "message.subject must be a string.")
    item.text["Subject"] = message.get("subject", "")
    body = message.get("body") or {}
    if not isinstance(body, dict) or str(body.get("contentType", "text")).lower() not in ("text", "html"):
        raise GraphError(400, "RequestBodyRead", "message.body is {contentType: text|html, content}.")
    node = etree.Element(t("Body"), BodyType="HTML" if str(body.get("contentType")).lower() == "html" else "Text")
    node.text = str(body.get("content", ""))
    item.raw["Body"] = etree.tostring(node).decode()
    for name in ("toRecipients", "ccRecipients", "bccRecipients"):
        recipients = _recipients(name, message.get(name))
        if recipients is not None:
            item.raw[name[0].upper() + name[1:]] = etree.tostring(recipients).decode()
    if not any(k in item.raw for k in ("ToRecipients", "CcRecipients", "BccRecipients")):
        raise GraphError(400, "ErrorInvalidRecipients", "At least one recipient is required, but none were found.")
    with g.store.lock:
        _set_sender(item, mb)
        _deliver(SimpleNamespace(store=g.store), mb, item)
        if data.get("savetosentitems", True) is not False:
            mb.create(mb.by_name["sentitems"], item)
    return Response(202)
