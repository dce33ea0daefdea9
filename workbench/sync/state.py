"""The state of one run, in small objects with one job each.

``Box``: one mailbox's progress (its result, deadline, open mailbox, stop flags). ``Counters``: requests,
retries and items done, shared by the mailbox threads. ``Books``: the run's store access (the store's gate
serialises the threads); ``Booker`` (``booking.py``): the run's one writer of batch bookkeeping. ``RunContext``: what every phase reads (settings, backend, limits, clock, cancel).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from workbench.errors import WorkbenchError
from workbench.mailbox import MailboxBackend
from workbench.retry import CancelToken, RetryPolicy
from workbench.store import Store
from workbench.store import sync_tables as st
from workbench.store.connection import lock_timeout
from workbench.store.deferred import deferred
from workbench.sync.booking import Booker
from workbench.sync.results import MailboxResult, ProgressEvent

#: a request's timeout when the backend does not say (exchange.client's DEFAULT_TIMEOUT)
DEFAULT_REQUEST_TIMEOUT = 60.0
#: seconds a worker may need after its last request to book the batch, beyond waiting for the store gate
BOOKING_GRACE = 5.0


class Stop(Exception):
    """A mailbox stops: deadline passed (SYNC_DEADLINE) or a person cancelled (SYNC_CANCELLED)."""

    def __init__(self, code: str, detail: str, last: WorkbenchError | None = None) -> None:
        super().__init__(detail)
        self.code, self.detail, self.last = code, detail, last


@dataclass
class Box:
    result: MailboxResult
    deadline: float
    mailbox: Any = None             # the open workbench.mailbox.Mailbox
    stopped: bool = False
    abandoned: bool = False          # the watchdog gave up on its worker: nothing may change its result
    error: BaseException | None = None   # an unexpected exception (a bug) in its worker, re-raised by the run
    release: Callable[[], None] = field(default=lambda: None)   # its worker frees its slot (``workers.py``)


class Counters:
    """Requests, retries and items of a run, counted from every mailbox thread."""

    def __init__(self, started: float) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.retries = 0
        self.items_total = 0
        self.items_done = 0
        self.started = started

    def request(self, n: int = 1) -> None:
        with self.lock:
            self.requests += n

    def retry(self) -> None:
        with self.lock:
            self.retries += 1

    def advance(self, n: int) -> tuple[int, int]:
        """``n`` more items done; (done, total) so far."""
        with self.lock:
            self.items_done += n
            return self.items_done, max(self.items_total, self.items_done)


@dataclass
class Books:
    """A run's store access: each call one transaction through the store's gate."""
    store: Store
    run_id: int | None

    def write(self, fn: Callable[[Any], Any]) -> Any:
        with self.store.write() as con:
            return fn(con)

    def log(self, entries: list[dict]) -> None:
        if entries:
            self.write(deferred(lambda con: st.journal(con, self.run_id, entries)).run)


@dataclass
class RunContext:
    """What every phase of a run reads. ``write_batch`` is the most items one write request carries:
    ``min(batch_size, backend.limits.max_batch)``; ``in_flight`` the write requests per mailbox at once."""
    settings: Any
    backend: MailboxBackend | None
    books: Books
    counters: Counters
    cancel: CancelToken
    clock: Callable[[], float]
    deadline_seconds: float
    batch_size: int
    write_batch: int
    in_flight: int
    stuck_grace: float
    booker: Booker
    progress: Callable[[ProgressEvent], None] | None = None
    to_notify: list[tuple[Box, str, str]] = field(default_factory=list)   # (mailbox, code, detail)

    @classmethod
    def create(cls, store: Store, settings: Any, *, run_id: int | None, backend: MailboxBackend | None,
               cancel: CancelToken, deadline_seconds: float | None, clock: Callable[[], float],
               progress: Callable[[ProgressEvent], None] | None = None) -> "RunContext":
        batch_size = int(settings.batch_size)
        limits = getattr(backend, "limits", None)
        deadline = (float(deadline_seconds) if deadline_seconds is not None
                    else settings.notification_frequency_minutes * 60.0)
        # a worker checks its deadline before each request, so it can overrun it by one request and the booking
        # of its batch (which may wait for the store gate)
        grace = float(getattr(backend, "request_timeout", DEFAULT_REQUEST_TIMEOUT)) + lock_timeout() + BOOKING_GRACE
        books = Books(store, run_id)
        return cls(settings, backend, books, Counters(clock()), cancel, clock, deadline, batch_size,
                   write_batch=min(batch_size, limits.max_batch) if limits else batch_size,
                   in_flight=max(1, limits.max_in_flight) if limits else 1, stuck_grace=grace,
                   booker=Booker(books.write, run_id), progress=progress)

    @property
    def category(self) -> str:
        return self.settings.sync_category

    def policy(self, box: Box) -> RetryPolicy:
        return RetryPolicy(deadline=box.deadline, clock=self.clock, cancel=self.cancel)
