"""SendNotification request bodies as Exchange sends them (built with lxml), plus hostile variants."""
from __future__ import annotations

from lxml import etree

S = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"


def send_notification(subscription_id: str, events: list[tuple[str, str | None]] = (), *,
                      previous: str = "W0", more: bool = False) -> bytes:
    """``events`` = [(event type, item id or None)]; no events = a StatusEvent ping."""
    env = etree.Element(f"{{{S}}}Envelope", nsmap={"s": S, "m": M, "t": T})
    head = etree.SubElement(env, f"{{{S}}}Header")
    etree.SubElement(head, f"{{{T}}}ServerVersionInfo", MajorVersion="15", MinorVersion="1",
                     MajorBuildNumber="2507", MinorBuildNumber="6", Version="V2017_07_11")
    body = etree.SubElement(env, f"{{{S}}}Body")
    send = etree.SubElement(body, f"{{{M}}}SendNotification")
    msgs = etree.SubElement(send, f"{{{M}}}ResponseMessages")
    msg = etree.SubElement(msgs, f"{{{M}}}SendNotificationResponseMessage", ResponseClass="Success")
    etree.SubElement(msg, f"{{{M}}}ResponseCode").text = "NoError"
    note = etree.SubElement(msg, f"{{{M}}}Notification")
    etree.SubElement(note, f"{{{T}}}SubscriptionId").text = subscription_id
    etree.SubElement(note, f"{{{T}}}PreviousWatermark").text = previous
    etree.SubElement(note, f"{{{T}}}MoreEvents").text = "true" if more else "false"
    if not events:
        ev = etree.SubElement(note, f"{{{T}}}StatusEvent")
        etree.SubElement(ev, f"{{{T}}}Watermark").text = previous + "+s"
    for n, (kind, item_id) in enumerate(events, start=1):
        ev = etree.SubElement(note, f"{{{T}}}{kind}")
        etree.SubElement(ev, f"{{{T}}}Watermark").text = f"{previous}+{n}"
        etree.SubElement(ev, f"{{{T}}}TimeStamp").text = "2026-01-05T10:00:00Z"
        etree.SubElement(ev, f"{{{T}}}ItemId", Id=item_id or "ITEM", ChangeKey="CK")
        etree.SubElement(ev, f"{{{T}}}ParentFolderId", Id="CONTACTS", ChangeKey="FCK")
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


def billion_laughs(subscription_id: str = "SUB-KNOWN") -> bytes:
    lol = "".join(f'<!ENTITY lol{i} "{"&lol%d;" % (i - 1) * 10}">' for i in range(1, 10))
    body = send_notification(subscription_id).decode()
    body = body.replace(f"<t:SubscriptionId>{subscription_id}", "<t:SubscriptionId>&lol9;")
    return ('<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY lol0 "lol">' + lol + "]>"
            + body.split("?>", 1)[1]).encode()


def external_entity(path: str = "/etc/passwd") -> bytes:
    body = send_notification("SUB-KNOWN").decode().split("?>", 1)[1]
    body = body.replace("<t:SubscriptionId>SUB-KNOWN", "<t:SubscriptionId>&xxe;")
    return (f'<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file://{path}">]>' + body).encode()


def utf16_doctype() -> bytes:
    text = external_entity().decode().replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>')
    return text.encode("utf-16")
