"""Mailbox workers under a watchdog: the run always ends.

Each mailbox's job runs on a daemon thread, at most ``workers`` at once. A job that has sent its last
request and only waits for its bookkeeping may free its slot (``release``): the next mailbox starts sending
then, instead of one booking later (at most ``workers`` such jobs wait at once). The caller's thread is the
watchdog: it never blocks on a worker. A worker still running past its mailbox deadline plus one
request's worth of grace is *abandoned* (its mailbox fails with SYNC_WORKER_STUCK: a library or the
network held it where no deadline check runs); after a cancel, workers get ``cancel_grace`` seconds
to finish their in-flight request and book it, then they are abandoned too (SYNC_CANCELLED).

An abandoned thread is left to die on its own (daemon: it never holds the process open). What it
sent to Exchange is recovered on the next run by the CRM-id property, as after a crash.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Generic, Sequence, TypeVar

T = TypeVar("T")

#: how often the watchdog looks when nothing finishes
TICK = 0.2


@dataclass
class Watch(Generic[T]):
    """What the watchdog needs: the deadline clock, the cancel flag, and what to do with a lost worker."""
    clock: Callable[[], float]
    cancelled: Callable[[], bool]
    deadline_of: Callable[[T], float]
    on_abandon: Callable[[T, str], None]        # (item, code): SYNC_WORKER_STUCK or SYNC_CANCELLED
    stuck_grace: float = 70.0                   # seconds past the deadline: one request timeout + bookkeeping
    cancel_grace: float = 5.0


@dataclass
class _Running(Generic[T]):
    item: T
    done: threading.Event
    released: bool = False


def run_each(items: Sequence[T], job: Callable[[T], None], *, workers: int, watch: Watch[T],
             name: str = "sync-mailbox", bind: Callable[[T, Callable[[], None]], None] | None = None) -> None:
    """Run ``job(item)`` for every item on at most ``workers`` threads; return when each has finished or
    been abandoned. ``job`` handles its own errors (an exception escaping it is a bug and ends that job).
    ``bind(item, release)``: before its job starts, an item gets the callable that frees its slot."""
    pending: deque[T] = deque(items)
    running: list[_Running[T]] = []
    wake = threading.Event()
    cancel_seen: float | None = None

    def start(item: T) -> None:
        done = threading.Event()

        def body() -> None:
            try:
                job(item)
            finally:
                done.set()
                wake.set()
        slot = _Running(item, done)

        def release() -> None:
            slot.released = True
            wake.set()
        if bind is not None:
            bind(item, release)
        thread = threading.Thread(target=body, daemon=True, name=name)
        running.append(slot)
        thread.start()

    def room() -> bool:
        width = max(1, workers)
        return len(running) - sum(r.released for r in running) < width and len(running) < 2 * width

    while pending or running:
        while pending and room():
            start(pending.popleft())
        wake.wait(TICK)
        wake.clear()
        running[:] = [r for r in running if not r.done.is_set()]
        if watch.cancelled() and cancel_seen is None:
            cancel_seen = time.monotonic()
        now = watch.clock()
        for slot in list(running):
            if cancel_seen is not None and time.monotonic() - cancel_seen >= watch.cancel_grace:
                code = "SYNC_CANCELLED"
            elif now > watch.deadline_of(slot.item) + watch.stuck_grace:
                code = "SYNC_WORKER_STUCK"
            else:
                continue
            running.remove(slot)
            watch.on_abandon(slot.item, code)
