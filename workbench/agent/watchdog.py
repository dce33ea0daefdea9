"""The subscription watchdog carried out: subscribe, re-subscribe and end subscriptions as
``plan_subscriptions`` decides, every ``watchdog_seconds`` on the agent's clock.

A re-created subscription is followed by an incremental job (what the silence hid). A Subscribe that
fails is tried again after ``subscribe_retry_seconds``. An ended subscription is cleared from the store, then
ended at the server through the backend serving the operator's mailbox (Graph: DELETE; EWS: nothing to send,
its next notification is answered Unsubscribe); a failed DELETE is logged, the subscription then lapses at
its expiry. The store is never held across a call to the server.
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any, Mapping, Protocol

from workbench.agent import state
from workbench.agent.events import Log, short
from workbench.agent.jobs import INCREMENTAL
from workbench.agent.registry import SubscriptionRegistry
from workbench.agent.subscriptions import SubscriptionAction, SubscriptionRecord, plan_subscriptions
from workbench.errors import WorkbenchError
from workbench.mailbox import MailboxBackend, Subscription
from workbench.store import Store


class Host(Protocol):
    """What the watchdog needs of the agent."""
    store: Store
    settings: Any
    stop_event: threading.Event
    log: Log

    def backend(self) -> MailboxBackend: ...
    def served(self) -> Mapping[str, state.Served]: ...
    def push_targets(self) -> list[str]: ...
    def submit(self, op: str, kind: str, reason: str) -> None: ...


class SubscriptionWatchdog:
    def __init__(self, host: Host, registry: SubscriptionRegistry, *, every_seconds: float,
                 retry_seconds: float) -> None:
        self.host, self.registry = host, registry
        self.every_seconds, self.retry_seconds = every_seconds, retry_seconds
        self._last: datetime | None = None
        self._subscribe_after: dict[str, datetime] = {}

    def run(self, now: datetime, *, force: bool = False) -> None:
        """One pass when due (``force``: now, and to the end even when stopping)."""
        if not force and self._last is not None and (now - self._last).total_seconds() < self.every_seconds:
            return
        self._last = now
        settings = self.host.settings
        rows = state.mailbox_rows(self.host.store)
        actions = plan_subscriptions(self.host.push_targets(), self._records(rows), now,
                                     url=settings.notification_url,
                                     frequency_minutes=settings.notification_frequency_minutes)
        for action in actions:
            if self.host.stop_event.is_set() and not force:
                return
            if action.action == "drop":
                self._drop(action, rows[action.operator_id].mailbox_address)
                continue
            after = self._subscribe_after.get(action.operator_id)
            if after is not None and now < after and not force:
                continue
            self._subscribe(action.operator_id, action.reason, action.old_subscription_id, now)

    def _records(self, rows: Mapping[str, state.MailboxRow]) -> dict[str, SubscriptionRecord]:
        """The stored rows, with what the listener heard since the last flush."""
        heard = self.registry.heard()
        return {op: row.record().heard_at(heard.get(op, (None, None))[0]) for op, row in rows.items()}

    def _drop(self, action: SubscriptionAction, mailbox: str | None) -> None:
        op, sid = action.operator_id, action.old_subscription_id
        self.registry.retire(sid)
        state.clear_subscription(self.host.store, op)
        self.host.log("unsubscribed", operator=op, why=action.reason, subscription=short(sid))
        if not (mailbox and sid):
            return
        try:
            self.host.backend().unsubscribe(mailbox, Subscription(sid))
        except WorkbenchError as exc:
            self.host.log("unsubscribe-failed", operator=op, mailbox=mailbox, subscription=short(sid),
                          code=exc.code, detail=exc.detail[:200])

    def _subscribe(self, op: str, reason: str, old: str | None, now: datetime) -> None:
        host, settings = self.host, self.host.settings
        mailbox = host.served()[op].mailbox
        sid = None
        self.registry.subscribing()
        try:
            sub = host.backend().subscribe(mailbox, settings.notification_url,
                                           settings.notification_frequency_minutes)
            sid = sub.subscription_id
        except WorkbenchError as exc:
            self._subscribe_after[op] = now + timedelta(seconds=self.retry_seconds)
            host.log("subscribe-failed", operator=op, mailbox=mailbox, code=exc.code, detail=exc.detail[:200])
            return
        finally:
            self.registry.subscribed(sid, op)
        self._subscribe_after.pop(op, None)
        self.registry.retire(old)
        state.save_subscription(host.store, op, mailbox, sid, sub.watermark, now, settings.notification_url,
                                settings.notification_frequency_minutes)
        host.log("resubscribed" if old else "subscribed", operator=op, mailbox=mailbox, why=reason,
                 subscription=short(sid), frequency=settings.notification_frequency_minutes)
        if reason == "silent":
            host.log("subscription-lapsed", operator=op, code="SUBSCRIPTION_LAPSED")
        if old and not host.stop_event.is_set():
            host.submit(op, INCREMENTAL, f"resubscribed:{reason}")   # catch up what the silence hid
