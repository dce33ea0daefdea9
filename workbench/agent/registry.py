"""The subscriptions the agent holds, shared by the listener's thread and the watchdog.

Subscription id -> operator for the live ones, the ids ended or replaced (answered Unsubscribe), what was
heard per operator since the last flush to the store, and the Subscribe calls in flight: Exchange pings a
new subscription at once, maybe before Subscribe's answer reached us, so a lookup of an unknown id waits
(up to a grace period) while one is in flight.
"""
from __future__ import annotations

import threading
from datetime import datetime

SUBSCRIBE_GRACE_SECONDS = 10.0     # how long an unknown subscription's notification waits for a Subscribe in flight

Heard = dict[str, tuple[datetime, str | None]]     # operator -> (when, watermark)


class SubscriptionRegistry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._subs: dict[str, str] = {}
        self._retired: set[str] = set()
        self._heard: Heard = {}
        self._subscribing = 0

    def load(self, live: dict[str, str]) -> None:
        """The subscriptions mailbox_state holds (at start)."""
        with self._lock:
            self._subs.update(live)

    def lookup(self, sid: str, at: datetime, watermark: str | None,
               grace: float = SUBSCRIBE_GRACE_SECONDS) -> str | None:
        """The operator of a live subscription (noting that it was heard), else None."""
        with self._lock:
            self._changed.wait_for(lambda: sid in self._subs or not self._subscribing, timeout=grace)
            op = self._subs.get(sid)
            if op is not None:
                self._heard[op] = (at, watermark)
            return op

    def is_retired(self, sid: str) -> bool:
        with self._lock:
            return sid in self._retired

    def subscribing(self) -> None:
        """A Subscribe call starts; ``subscribed`` (or ``subscribe_failed``) must follow."""
        with self._lock:
            self._subscribing += 1

    def subscribed(self, sid: str | None, op: str) -> None:
        with self._lock:
            if sid is not None:
                self._subs[sid] = op
            self._subscribing -= 1
            self._changed.notify_all()

    def retire(self, sid: str | None) -> None:
        if not sid:
            return
        with self._lock:
            self._subs.pop(sid, None)
            self._retired.add(sid)

    def live(self) -> dict[str, str]:
        with self._lock:
            return dict(self._subs)

    def heard(self) -> Heard:
        with self._lock:
            return dict(self._heard)

    def take_heard(self) -> Heard:
        with self._lock:
            heard, self._heard = self._heard, {}
            return heard

    def put_back_heard(self, heard: Heard) -> None:
        """After a failed flush: keep what was heard unless something newer arrived meanwhile."""
        with self._lock:
            for op, value in heard.items():
                self._heard.setdefault(op, value)
