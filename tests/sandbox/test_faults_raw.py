"""Injected faults, the admin endpoint, the request log, and raw bad requests."""
from __future__ import annotations

import json
import time
import urllib.request

import pytest
import requests
from exchangelib import FaultTolerance
from exchangelib.errors import EWSError, ErrorServerBusy
from requests_ntlm import HttpNtlmAuth

ENVELOPE = ('<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" '
            'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">{header}<s:Body>{body}</s:Body>'
            '</s:Envelope>')
HEADER = '<s:Header><t:RequestServerVersion Version="Exchange2016"/></s:Header>'
RESOLVE = '<m:ResolveNames ReturnFullContactData="false"><m:UnresolvedEntry>bob</m:UnresolvedEntry></m:ResolveNames>'


def admin(sb, path, data=None):
    req = urllib.request.Request(sb.info.admin_url + path, method="POST" if data is not None else "GET",
                                 data=json.dumps(data).encode() if data is not None else None)
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def test_throttling_fault_before_processing(sandbox, account):
    acc = account(sandbox, "bob.smith@example.com")
    acc.root   # resolve folders first
    sandbox.faults.set(throttle_share=1.0, backoff_ms=1500)
    try:
        with pytest.raises(ErrorServerBusy) as info:
            acc.contacts.all().count()
        assert info.value.back_off == 1.5
    finally:
        sandbox.faults.clear()
    sandbox.faults.set(throttle_share=0.5, backoff_ms=20, seed=7)
    try:
        patient = account(sandbox, "bob.smith@example.com", retry=FaultTolerance(max_wait=20))
        before = len(sandbox.requests)
        assert patient.contacts.all().count() >= 0
        outcomes = [r.outcome for r in sandbox.requests[before:]]
    finally:
        sandbox.faults.clear()
    assert "ErrorServerBusy" in outcomes and outcomes[-1] == "NoError"


def test_http_errors_drops_and_latency(sandbox, account):
    acc = account(sandbox, "bob.smith@example.com")
    acc.root
    for settings, outcome in (({"http_error_share": 1.0, "http_error_status": 503}, "injected HTTP error"),
                              ({"http_error_share": 1.0, "http_error_status": 500}, "injected HTTP error"),
                              ({"drop_share": 1.0}, "dropped")):
        sandbox.faults.set(**settings)
        try:
            with pytest.raises(EWSError):
                acc.contacts.all().count()
        finally:
            sandbox.faults.clear()
        assert sandbox.requests[-1].outcome == outcome
        assert acc.contacts.all().count() >= 0      # and the next request is served
    sandbox.faults.set(latency_ms=300)
    try:
        started = time.monotonic()
        acc.contacts.all().count()
        assert time.monotonic() - started >= 0.3
    finally:
        sandbox.faults.clear()


def test_admin_endpoint(sandbox, account):
    assert admin(sandbox, "/faults")["throttle_share"] == 0.0
    changed = admin(sandbox, "/faults", {"throttle_share": 0.25, "deny_impersonation": ["bob.smith@example.com"],
                                         "item_failures": {"CRM-9": "ErrorItemSave"}})
    assert changed["throttle_share"] == 0.25 and changed["deny_impersonation"] == ["bob.smith@example.com"]
    assert sandbox.faults.config.item_failures == {"CRM-9": "ErrorItemSave"}
    assert admin(sandbox, "/faults/clear", {})["throttle_share"] == 0.0
    with pytest.raises(urllib.error.HTTPError) as err:
        admin(sandbox, "/faults", {"no_such_knob": 1})
    assert err.value.code == 400
    account(sandbox, "alice.jones@example.com").contacts.all().count()
    log = admin(sandbox, "/requests")
    assert {"time", "user", "mailbox", "operation", "items", "status"} <= set(log[-1])
    assert log[-1]["mailbox"] == "alice.jones@example.com" and log[-1]["user"] == "svc-sync@example.com"
    box = admin(sandbox, "/mailboxes/a.jones@example.com")
    assert box["primary_address"] == "alice.jones@example.com"
    assert "Seed One" in [c["display_name"] for c in box["contacts"]]
    assert {"deleted_items", "sent_items"} <= set(box)


@pytest.fixture
def raw(sandbox):
    session = requests.Session()
    session.auth = HttpNtlmAuth(sandbox.info.service_account.username, sandbox.info.service_account.password)

    def post(body: bytes):
        return session.post(sandbox.info.url, data=body, verify=str(sandbox.info.ca_cert),
                            headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=30)
    yield post
    session.close()


def test_bad_requests_get_faults_and_the_server_keeps_serving(raw, intentionally_invalid):
    cases = {
        "malformed": b"<s:Envelope><not closed",
        "unknown operation": ENVELOPE.format(header=HEADER, body="<m:LaunchRockets/>").encode(),
        "missing header": ENVELOPE.format(header="", body=RESOLVE).encode(),
        "too new a version": ENVELOPE.format(header=HEADER.replace("Exchange2016", "V2099_01_01"),
                                             body=RESOLVE).encode(),
        "huge": b"<x>" + b"a" * (20 * 1024 * 1024) + b"</x>",
    }
    intentionally_invalid.update(cases.values())
    for name, body in cases.items():
        r = raw(body)
        if name == "huge":
            assert r.status_code == 413, name
        else:
            assert r.status_code == 500 and b"<s:Fault>" in r.content, name
            assert b"ResponseCode" in r.content
        ok = raw(ENVELOPE.format(header=HEADER, body=RESOLVE).encode())
        assert ok.status_code == 200 and b"bob.smith@example.com" in ok.content, name
