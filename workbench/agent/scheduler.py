"""Slot timing with an injected clock.

A slot is the period of the full reconciliation (slot_size_minutes, 15 or 30), aligned to the clock:
with 15-minute slots they start at :00, :15, :30 and :45 UTC. ``next_slot`` is pure; the agent's loop asks
a ``SlotScheduler`` whether a slot is due at ``clock.now()``, so tests drive time with a ``ManualClock``
instead of sleeping.
"""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import Protocol

from workbench.store import now as utc_now

_EPOCH = datetime(1970, 1, 1)


def slot_start(at: datetime, slot_minutes: int) -> datetime:
    """Start of the slot that contains ``at`` (naive UTC)."""
    if slot_minutes <= 0:
        raise ValueError("slot_minutes must be positive")
    period = slot_minutes * 60
    seconds = int((at - _EPOCH).total_seconds() // period) * period
    return _EPOCH + timedelta(seconds=seconds)


def next_slot(at: datetime, slot_minutes: int) -> datetime:
    """The first slot boundary strictly after ``at``."""
    return slot_start(at, slot_minutes) + timedelta(minutes=slot_minutes)


class Clock(Protocol):
    def now(self) -> datetime: ...
    def wait(self, event: threading.Event, seconds: float) -> bool: ...


class SystemClock:
    """Real time: naive UTC ``now()``; ``wait`` blocks on the event up to ``seconds``."""

    def now(self) -> datetime:
        return utc_now()

    def wait(self, event: threading.Event, seconds: float) -> bool:
        return event.wait(max(0.0, seconds))

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that moves only when told (tests). ``wait`` returns at once after a short real pause so a
    loop driven by it does not spin; ``advance`` moves time and wakes waiters."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._lock = threading.Lock()
        self._moved = threading.Condition(self._lock)

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float = 0, *, minutes: float = 0) -> datetime:
        with self._moved:
            self._now += timedelta(seconds=seconds, minutes=minutes)
            self._moved.notify_all()
            return self._now

    def set(self, at: datetime) -> None:
        with self._moved:
            self._now = at
            self._moved.notify_all()

    def wait(self, event: threading.Event, seconds: float) -> bool:
        # Real time still passes for the agent's other threads (listener, workers); poll briefly.
        return event.wait(min(max(seconds, 0.0), 0.05))


class SlotScheduler:
    """Decides when the next full reconciliation slot is due."""

    def __init__(self, slot_minutes: int, start: datetime) -> None:
        self.slot_minutes = slot_minutes
        self.next_at = next_slot(start, slot_minutes)

    def due(self, at: datetime) -> bool:
        return at >= self.next_at

    def take(self, at: datetime) -> datetime:
        """Mark the due slot as started; returns its boundary. Missed slots are not replayed: the next
        boundary after ``at`` comes next."""
        started = slot_start(at, self.slot_minutes)
        self.next_at = next_slot(at, self.slot_minutes)
        return started

    def resize(self, slot_minutes: int, at: datetime) -> None:
        if slot_minutes != self.slot_minutes:
            self.slot_minutes = slot_minutes
            self.next_at = next_slot(at, slot_minutes)

    def seconds_until(self, at: datetime) -> float:
        return max(0.0, (self.next_at - at).total_seconds())
