"""SOAP envelopes, EWS namespaces, response messages and faults."""
from __future__ import annotations

from lxml import etree

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
ERR = "http://schemas.microsoft.com/exchange/services/2006/errors"
NSMAP = {"s": SOAP, "t": T, "m": M}

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=True,
                          load_dtd=False)


class EwsError(Exception):
    """A per-message EWS error: becomes one response message with ResponseClass="Error"."""

    def __init__(self, code: str, text: str = ""):
        super().__init__(code, text)
        self.code = code
        self.text = text or code


class SoapFault(Exception):
    """A request-level failure answered with a SOAP fault (HTTP 500)."""

    def __init__(self, code: str, text: str, back_off_ms: int | None = None,
                 violation: tuple[int, int, str] | None = None):
        super().__init__(code, text)
        self.code = code
        self.text = text
        self.back_off_ms = back_off_ms
        self.violation = violation      # (line, position, message) of a schema violation


def t(tag: str) -> str:
    return f"{{{T}}}{tag}"


def m(tag: str) -> str:
    return f"{{{M}}}{tag}"


def sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    node = etree.SubElement(parent, tag, {k: v for k, v in attrs.items() if v is not None})
    if text is not None:
        node.text = text
    return node


def local(node: etree._Element) -> str:
    return etree.QName(node).localname


def parse(body: bytes) -> etree._Element:
    """Parse a request; raises SoapFault(ErrorSchemaValidation) on malformed XML or a non-SOAP document."""
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise SoapFault("ErrorSchemaValidation", f"The request failed schema validation: {exc}") from None
    if root.tag != f"{{{SOAP}}}Envelope":
        raise SoapFault("ErrorSchemaValidation", "The request failed schema validation: the root element "
                        "is not a SOAP 1.1 Envelope.")
    return root


def envelope(body_child: etree._Element | None, server_version: dict[str, str] | None) -> etree._Element:
    env = etree.Element(f"{{{SOAP}}}Envelope", nsmap=NSMAP)
    if server_version is not None:
        header = sub(env, f"{{{SOAP}}}Header")
        sub(header, t("ServerVersionInfo"), **server_version)
    body = sub(env, f"{{{SOAP}}}Body")
    if body_child is not None:
        body.append(body_child)
    return env


def serialize(env: etree._Element) -> bytes:
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


def fault(code: str, text: str, back_off_ms: int | None = None,
          server_version: dict[str, str] | None = None,
          violation: tuple[int, int, str] | None = None) -> etree._Element:
    """A SOAP fault shaped as Exchange sends it (ews-notes §1.3); a schema violation carries
    t:MessageXml/LineNumber, LinePosition and Violation, which EWS clients read."""
    f = etree.Element(f"{{{SOAP}}}Fault", nsmap={"s": SOAP})
    code_el = etree.SubElement(f, "faultcode", nsmap={"a": ERR})
    code_el.text = f"a:{code}"
    sub(f, "faultstring", text)
    detail = sub(f, "detail")
    det_code = etree.SubElement(detail, f"{{{ERR}}}ResponseCode", nsmap={"e": ERR})
    det_code.text = code
    det_msg = etree.SubElement(detail, f"{{{ERR}}}Message", nsmap={"e": ERR})
    det_msg.text = text
    if back_off_ms is not None:
        mx = etree.SubElement(detail, t("MessageXml"), nsmap={"t": T})
        sub(mx, t("Value"), str(back_off_ms), Name="BackOffMilliseconds")
    if violation is not None:
        mx = etree.SubElement(detail, t("MessageXml"), nsmap={"t": T})
        for name, value in zip(("LineNumber", "LinePosition", "Violation"), violation):
            sub(mx, t(name), str(value))
    return envelope(f, server_version)


class Responses:
    """Builds ``m:<Op>Response/m:ResponseMessages`` and one message per input item."""

    def __init__(self, op: str):
        self.op = op
        self.root = etree.Element(m(f"{op}Response"), nsmap={"m": M, "t": T})
        self.messages = sub(self.root, m("ResponseMessages"))
        self.count = 0
        self.errors = 0

    def success(self, message_tag: str | None = None) -> etree._Element:
        msg = sub(self.messages, m(message_tag or f"{self.op}ResponseMessage"), ResponseClass="Success")
        sub(msg, m("ResponseCode"), "NoError")
        self.count += 1
        return msg

    def error(self, err: EwsError, empty_payload: tuple[str, ...] = (), warning: bool = False,
              message_tag: str | None = None) -> etree._Element:
        msg = sub(self.messages, m(message_tag or f"{self.op}ResponseMessage"),
                  ResponseClass="Warning" if warning else "Error")
        sub(msg, m("MessageText"), err.text)
        sub(msg, m("ResponseCode"), err.code)
        sub(msg, m("DescriptiveLinkKey"), "0")
        for tag in empty_payload:
            sub(msg, m(tag))
        self.count += 1
        self.errors += 1
        return msg
