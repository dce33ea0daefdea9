"""What the listener heard: the answer to each notification, and the record of it.

``decide`` runs on the listener's thread: it answers OK for a subscription the agent holds (and queues an
incremental job when the notification carries item events), Unsubscribe otherwise. It only notes when a
subscription was heard; ``flush`` hands that to the main loop's store write (``mailbox_state``), so the
listener never waits for the store.
"""
from __future__ import annotations

import threading
from typing import Callable, TypeVar

from workbench.agent.events import Log, short
from workbench.agent.jobs import INCREMENTAL
from workbench.agent.registry import Heard, SubscriptionRegistry
from workbench.agent.scheduler import Clock
from workbench.errors import WorkbenchError
from workbench.mailbox import PushNotification

T = TypeVar("T")


class PushInbox:
    def __init__(self, registry: SubscriptionRegistry, clock: Clock, log: Log, stop: threading.Event,
                 submit: Callable[[str, str, str], None]) -> None:
        self.registry, self.clock, self.log, self.stop, self.submit = registry, clock, log, stop, submit

    def decide(self, notes: list[PushNotification]) -> str:
        """The listener's callback: OK for a subscription we hold, Unsubscribe otherwise."""
        answer = "Unsubscribe"
        at = self.clock.now()
        for note in notes:
            sid = note.subscription_id
            op = self.registry.lookup(sid, at, note.watermark)
            if op is None:
                self.log("notification", subscription=short(sid), answer="Unsubscribe",
                         why="retired" if self.registry.is_retired(sid) else "unknown")
                continue
            answer = "OK"
            changes = sum(1 for e in note.events if not e.is_status)
            self.log("notification", operator=op, subscription=short(sid),
                     events=changes or None, status=None if changes else "ping")
            if changes and not self.stop.is_set():
                self.submit(op, INCREMENTAL, "notification")
        return answer

    def flush(self, write: Callable[[Heard], T]) -> T:
        """``write(heard)`` the notifications heard since the last flush into the store (``state.save_heard``
        or ``state.poll``); on failure they are kept for the next flush."""
        heard = self.registry.take_heard()
        try:
            return write(heard)
        except WorkbenchError:
            self.registry.put_back_heard(heard)
            raise
