"""The push listener answers EWS SendNotification per the contract and survives hostile input."""
from __future__ import annotations

import http.client
import ssl
import threading

import pytest

from workbench.agent.listener import ListenAddress, Listener, tls_context
from workbench.exchange.notifications import MAX_BODY, EwsPushCodec
from workbench.mailbox import PushRefused

from .bodies import billion_laughs, external_entity, send_notification, utf16_doctype

KNOWN = "SUB-KNOWN"


class Recorder:
    def __init__(self) -> None:
        self.notes = []
        self.events = []
        self.fail = False
        self.lock = threading.Lock()

    def decide(self, notes):
        if self.fail:
            raise RuntimeError("boom")
        with self.lock:
            self.notes.extend(notes)
        return "OK" if all(n.subscription_id == KNOWN for n in notes) else "Unsubscribe"

    def log(self, event, **fields):
        with self.lock:
            self.events.append((event, fields))


@pytest.fixture()
def listener():
    rec = Recorder()
    lst = Listener(ListenAddress("http", "127.0.0.1", 0, "/ews/notify"), EwsPushCodec(), rec.decide, rec.log).start()
    yield lst, rec
    lst.stop()


def post(port: int, body: bytes, path: str = "/ews/notify", headers: dict | None = None, method: str = "POST",
         https: bool = False):
    if https:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=ctx)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "text/xml; charset=utf-8", **(headers or {})})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def status_of(reply: bytes) -> str:
    from lxml import etree
    return etree.fromstring(reply).findtext(".//{http://schemas.microsoft.com/exchange/services/2006/messages}"
                                            "SubscriptionStatus")


def test_known_subscription_is_answered_ok(listener):
    lst, rec = listener
    status, reply = post(lst.port, send_notification(KNOWN, [("CreatedEvent", "I1"), ("ModifiedEvent", "I2")]))
    assert status == 200 and status_of(reply) == "OK"
    [note] = rec.notes
    assert note.subscription_id == KNOWN and note.has_changes
    assert [e.kind for e in note.events] == ["CreatedEvent", "ModifiedEvent"]
    assert [e.item_id for e in note.events] == ["I1", "I2"]
    assert note.watermark == "W0+2"


def test_status_ping_carries_no_changes(listener):
    lst, rec = listener
    status, reply = post(lst.port, send_notification(KNOWN))
    assert status == 200 and status_of(reply) == "OK"
    assert not rec.notes[0].has_changes and rec.notes[0].watermark == "W0+s"


def test_unknown_subscription_is_answered_unsubscribe(listener):
    lst, _ = listener
    status, reply = post(lst.port, send_notification("SUB-STRANGER", [("CreatedEvent", "I1")]))
    assert status == 200 and status_of(reply) == "Unsubscribe"


@pytest.mark.parametrize("body,why", [
    (billion_laughs(), "entity expansion"),
    (external_entity(), "external entity"),
    (utf16_doctype(), "DTD in UTF-16"),
    (b"this is not xml", "garbage"),
    (b"<a><b></a>", "malformed"),
    (b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><x/></s:Body></s:Envelope>',
     "other SOAP body"),
    (b"", "empty"),
])
def test_hostile_and_malformed_bodies_are_refused_and_the_listener_stays_up(listener, body, why):
    lst, rec = listener
    status, reply = post(lst.port, body)
    assert 400 <= status < 500, why
    assert b"Fault" in reply
    assert b"root:" not in reply            # nothing of /etc/passwd leaks
    assert rec.notes == []
    assert any(e == "notification-refused" for e, _ in rec.events)
    status, reply = post(lst.port, send_notification(KNOWN))
    assert status == 200 and status_of(reply) == "OK"


def test_oversized_body_is_refused_before_it_is_read(listener):
    lst, _ = listener
    conn = http.client.HTTPConnection("127.0.0.1", lst.port, timeout=10)
    conn.putrequest("POST", "/ews/notify")
    conn.putheader("Content-Length", str(MAX_BODY + 1))
    conn.endheaders()
    resp = conn.getresponse()
    assert resp.status == 413
    conn.close()
    assert post(lst.port, send_notification(KNOWN))[0] == 200


def test_wrong_path_wrong_verb_and_failing_agent(listener):
    lst, rec = listener
    assert post(lst.port, send_notification(KNOWN), path="/other")[0] == 404
    assert post(lst.port, b"", method="GET")[0] == 405
    rec.fail = True
    status, reply = post(lst.port, send_notification(KNOWN))
    assert status == 500 and b"Fault" in reply
    rec.fail = False
    assert post(lst.port, send_notification(KNOWN))[0] == 200


def test_https_listener(tmp_path):
    from workbench.sandbox.certs import issue_server_certificate
    cert = issue_server_certificate(tmp_path)
    rec = Recorder()
    lst = Listener(ListenAddress("https", "127.0.0.1", 0, "/ews/notify"), EwsPushCodec(), rec.decide, rec.log,
                   tls=tls_context(str(cert.cert_chain), str(cert.key))).start()
    try:
        status, reply = post(lst.port, send_notification(KNOWN), https=True)
        assert status == 200 and status_of(reply) == "OK"
    finally:
        lst.stop()


def test_https_url_without_certificate_is_refused():
    with pytest.raises(ValueError):
        Listener(ListenAddress("https", "127.0.0.1", 0, "/x"), EwsPushCodec(), lambda n: "OK")


def test_listen_address_from_url():
    a = ListenAddress.from_url("http://127.0.0.1:8765/ews/notify")
    assert (a.scheme, a.host, a.port, a.path) == ("http", "127.0.0.1", 8765, "/ews/notify")
    b = ListenAddress.from_url("https://crm.example.com/push")
    assert (b.host, b.port, b.path) == ("0.0.0.0", 443, "/push")


def test_parse_refuses_directly():
    with pytest.raises(PushRefused):
        EwsPushCodec().parse(billion_laughs())
    with pytest.raises(PushRefused) as info:
        EwsPushCodec().parse(b"<" * (MAX_BODY + 1))
    assert info.value.status == 413
