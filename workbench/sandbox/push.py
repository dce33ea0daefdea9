"""Outbound push notifications: SendNotification POSTs to a subscription's callback URL.

Events are sent as they happen; when nothing happens for StatusFrequency
minutes a StatusEvent is sent (one right after Subscribe, too). A failed
POST is retried after 30 s, then 60 s, 120 s ... (scaled with the sandbox's
minute length) and the subscription is dropped once the next wait would
exceed StatusFrequency, as Exchange does. A listener that answers
``Unsubscribe`` ends the subscription.
"""
from __future__ import annotations

import http.client
import ssl
import threading
import time
import urllib.parse
from typing import Callable

from lxml import etree

from .notify import Subscription, Subscriptions, render_notification
from .soap import M, T, SoapFault, envelope, m, parse, serialize, sub
from .store import Store

FIRST_RETRY_SECONDS = 30.0
COALESCE_SECONDS = 0.05


class PushSender(threading.Thread):
    def __init__(self, subscription: Subscription, store: Store, registry: Subscriptions, minute_seconds: float,
                 server_version: dict[str, str], record: Callable[[str, bytes], None],
                 log: Callable[[str, str, int, str], None]):
        super().__init__(name=f"sandbox-push-{subscription.id[:8]}", daemon=True)
        self.sub = subscription
        self.store = store
        self.registry = registry
        self.minute = minute_seconds
        self.server_version = server_version
        self.record = record
        self.log = log
        self.wake = threading.Event()

    def _on_change(self, _mailbox: object) -> None:
        self.wake.set()

    def run(self) -> None:
        mailbox = self.sub.mailbox
        with self.store.lock:
            mailbox.listeners.append(self._on_change)
        try:
            self._loop()
        finally:
            with self.store.lock:
                if self._on_change in mailbox.listeners:
                    mailbox.listeners.remove(self._on_change)

    def _loop(self) -> None:
        period = self.sub.status_frequency * self.minute
        next_status = time.monotonic()
        retry: float | None = None
        while not self.sub.ended.is_set():
            with self.store.lock:
                events, cursor, more = self.sub.pending()
                previous = self.sub.cursor
            if not events and retry is None and time.monotonic() < next_status:
                self.wake.wait(timeout=max(0.0, next_status - time.monotonic()))
                if self.wake.is_set():
                    self.wake.clear()
                    self.sub.ended.wait(COALESCE_SECONDS)
                continue
            answer = self._post(previous, events, cursor, more)
            if answer in ("OK", "Unsubscribe"):
                retry = None
                with self.store.lock:
                    self.sub.cursor = cursor
                next_status = time.monotonic() + period
                if answer == "Unsubscribe":
                    self.registry.end(self.sub.id)
                continue
            retry = FIRST_RETRY_SECONDS / 60.0 * self.minute if retry is None else retry * 2
            if retry > period:
                self.registry.end(self.sub.id)
                self.log(self.sub.mailbox.primary, "SendNotification", 0, "subscription dropped")
                return
            self.sub.ended.wait(retry)

    def _post(self, previous: int, events: list, cursor: int, more: bool) -> str:
        root = etree.Element(m("SendNotification"), nsmap={"m": M, "t": T})
        messages = sub(root, m("ResponseMessages"))
        msg = sub(messages, m("SendNotificationResponseMessage"), ResponseClass="Success")
        sub(msg, m("ResponseCode"), "NoError")
        render_notification(msg, self.sub, previous, events, cursor, more)
        body = serialize(envelope(root, self.server_version))
        self.record("push-out", body)
        url = urllib.parse.urlsplit(self.sub.url)
        timeout = max(1.0, min(30.0, self.sub.status_frequency * self.minute))
        if url.scheme == "https":
            # The sandbox does not verify the listener's certificate: the listener is the workbench's own
            # agent on loopback, and its trust is not what the sandbox is here to test.
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                url.hostname or "", url.port or 443, timeout=timeout, context=context)
        else:
            conn = http.client.HTTPConnection(url.hostname or "", url.port or 80, timeout=timeout)
        try:
            path = url.path + (f"?{url.query}" if url.query else "") or "/"
            conn.request("POST", path, body=body, headers={"Content-Type": "text/xml; charset=utf-8"})
            response = conn.getresponse()
            reply = response.read()
            status = response.status
        except OSError as exc:
            self.log(self.sub.mailbox.primary, "SendNotification", len(events), f"failed: {exc.__class__.__name__}")
            return "failed"
        finally:
            conn.close()
        self.record("push-reply", reply)
        answer = "failed"
        if status == 200:
            try:
                answer = parse(reply).findtext(f".//{m('SubscriptionStatus')}") or "failed"
            except SoapFault:
                answer = "failed"
        self.log(self.sub.mailbox.primary, "SendNotification", len(events), f"HTTP {status} {answer}")
        return answer if answer in ("OK", "Unsubscribe") else "failed"
