"""Graph's lifecycle notifications and subscription renewal, carried out by the agent.

The listener's callback (``decide``) hands change notifications to the inbox (an incremental job: delta into
the snapshot, then the engine) and only queues lifecycle events, which the main loop (``run``) carries out:

- ``missed``: Graph dropped notifications; an incremental job catches up by delta from the stored state;
- ``reauthorizationRequired``: renew the subscription (PATCH expiration); a subscription Graph no longer knows
  is replaced as below;
- ``subscriptionRemoved``: forget it, subscribe again (the watchdog) and catch up by delta.

Graph subscriptions expire (their lifetime is notification_frequency_minutes, at most 4,230): each is renewed
when half of it has passed. A renewal counts as hearing from the subscription, so the watchdog does not call a
quiet mailbox's subscription silent. EWS subscriptions are left to the watchdog (status pings keep them).
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any, Mapping, Protocol

from workbench.agent import state
from workbench.agent.events import Log, short
from workbench.agent.inbox import PushInbox
from workbench.agent.jobs import INCREMENTAL
from workbench.agent.registry import SubscriptionRegistry
from workbench.agent.scheduler import Clock
from workbench.errors import WorkbenchError
from workbench.mailbox import MailboxBackend, PushNotification, Subscription


class Host(Protocol):
    """What lifecycle handling needs of the agent."""
    store: Any
    settings: Any
    clock: Clock
    log: Log
    stop_event: threading.Event
    watchdog: Any

    def backend(self) -> MailboxBackend: ...
    def served(self) -> Mapping[str, state.Served]: ...
    def submit(self, op: str, kind: str, reason: str) -> None: ...


class GraphLifecycle:
    def __init__(self, host: Host, registry: SubscriptionRegistry, inbox: PushInbox, every_seconds: float) -> None:
        self.host, self.registry, self.inbox, self.every_seconds = host, registry, inbox, every_seconds
        self._lock = threading.Lock()
        self._pending: list[tuple[str, str, str]] = []     # (operator, subscription id, lifecycle event)
        self._renewed: dict[str, datetime] = {}
        self._last: datetime | None = None

    def client_state(self) -> str:
        """The clientState the Graph notifications must carry (the listener's codec asks)."""
        from workbench.backends import graph_client_state
        return graph_client_state(self.host.backend())

    def decide(self, notes: list[PushNotification]) -> str:
        """The listener's callback: lifecycle events are queued for the main loop, the rest go to the inbox."""
        lifecycle = [n for n in notes if any(e.is_lifecycle for e in n.events)]
        changes = [n for n in notes if n not in lifecycle]
        answer = self.inbox.decide(changes) if changes else "OK"
        at = self.host.clock.now()
        for note in lifecycle:
            sid, event = note.subscription_id, note.events[0].kind
            op = self.registry.lookup(sid, at, None)
            self.host.log("lifecycle", operator=op, subscription=short(sid), lifecycle_event=event,
                          why=None if op else "unknown subscription")
            if op is not None:
                with self._lock:
                    self._pending.append((op, sid, event))
        return answer

    def run(self, now: datetime) -> None:
        """On the main loop: the queued lifecycle events, then the renewals due."""
        with self._lock:
            pending, self._pending = self._pending, []
        for op, sid, event in pending:
            if self.host.stop_event.is_set():
                return
            if event == "missed":
                self.host.submit(op, INCREMENTAL, "lifecycle:missed")
            elif event == "reauthorizationRequired":
                self._renew(op, sid, now)
            elif event == "subscriptionRemoved":
                self._replace(op, sid, now, event)
        if self._last is None or (now - self._last).total_seconds() >= self.every_seconds:
            self._last = now
            self._renew_due(now)

    def _renew_due(self, now: datetime) -> None:
        settings = self.host.settings
        half = timedelta(minutes=settings.notification_frequency_minutes / 2)
        rows = state.mailbox_rows(self.host.store)
        for sid, op in self.registry.live().items():
            served, row = self.host.served().get(op), rows.get(op)
            if served is None or row is None or settings.backend_for(served.mailbox) != "graph":
                continue
            since = max(filter(None, (self._renewed.get(op), row.record().subscribed_at)), default=None)
            if since is not None and now - since >= half:
                self._renew(op, sid, now)

    def _renew(self, op: str, sid: str, now: datetime) -> None:
        host, settings = self.host, self.host.settings
        served = host.served().get(op)
        if served is None:
            return
        try:
            sub = host.backend().renew(served.mailbox, Subscription(sid), settings.notification_url,
                                       settings.notification_frequency_minutes)
        except WorkbenchError as exc:
            if exc.code == "GRAPH_SUBSCRIPTION_GONE":
                self._replace(op, sid, now, "gone")
            else:
                host.log("renew-failed", operator=op, subscription=short(sid), code=exc.code, detail=exc.detail[:200])
            return
        self._renewed[op] = now
        self.registry.lookup(sid, now, None, grace=0)        # alive: not silent for the watchdog
        host.log("subscription-renewed", operator=op, subscription=short(sid), expires=sub.expires)

    def _replace(self, op: str, sid: str, now: datetime, why: str) -> None:
        """Forget the subscription, let the watchdog subscribe again, catch up what it did not tell."""
        self.registry.retire(sid)
        state.clear_subscription(self.host.store, op)
        self._renewed.pop(op, None)
        self.host.log("subscription-removed", operator=op, subscription=short(sid), why=why)
        self.host.watchdog.run(now, force=True)
        self.host.submit(op, INCREMENTAL, f"lifecycle:{why}")
