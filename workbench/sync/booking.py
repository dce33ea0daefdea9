"""The run's one store writer: each batch's bookkeeping, off the mailbox threads.

A sending thread hands a batch's ``Outcome`` to ``Booker.submit`` and sends its next batch while the writer
books this one. The writer thread takes every batch waiting (up to ``MAX_GROUP``), commits their bookkeeping in
one store transaction (one set-based statement per table for all of them: ``journal.commit_all``), then runs
each batch's ``after`` (its mailbox counts it, progress) and wakes whoever waits on its ``Ticket``. So no
mailbox thread waits for the store between two sends, and one commit serves several batches. A mailbox that
ended well leaves its ``mailbox_state`` mark (``mark``), which rides with the next batch booked or with the
execute phase's ``flush``, never in a transaction of its own.

Crash points: a batch is booked when its ticket is done. A process killed before that loses the bookkeeping of
the batches sent and not booked yet: per sending thread its batch in flight and at most
``execute.waiting_window`` waiting (2 to 8 batches, about 160 items; with 2 a lane waits for batch N's ticket
before it sends N+3); the next run adopts what they wrote by CRM id. When the merged
transaction fails on the data, the batches are booked again one by one, so a bad batch's error stays its own.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Any, Callable

from workbench.errors import WorkbenchError
from workbench.store.deferred import deferred
from workbench.sync import faults
from workbench.sync.journal import Outcome, commit_all

#: most batches one transaction books (bounds a transaction's size when the writer falls behind)
MAX_GROUP = 64


class Ticket:
    """One submitted batch: done once it is booked (or its booking failed: ``error``)."""

    def __init__(self, operator_id: str, out: Outcome, after: Callable[[], None], *, batch: bool = True,
                 rides: bool = False) -> None:
        self.operator_id, self.out, self.after = operator_id, out, after
        self.batch = batch              # a batch's bookkeeping (the BEFORE_JOURNAL crash point), else a mark
        self.rides = rides              # waits for the next batch (or the flush) instead of a transaction of its own
        self.error: BaseException | None = None
        self._done = threading.Event()

    def settle(self) -> None:
        """Wait until the batch is booked or failed (never raises)."""
        self._done.wait()

    def _finish(self) -> None:
        if self.error is None:
            try:
                self.after()
            except BaseException as exc:      # handed to the batch's mailbox thread, which raises it
                self.error = exc
        self._done.set()


class Booker:
    """Books submitted batches on one daemon thread, started when work arrives and ended when none is left."""

    def __init__(self, write: Callable[[Callable[[Any], Any]], Any], run_id: int | None) -> None:
        self._write, self._run_id = write, run_id
        self._lock = threading.Lock()
        self._queue: deque[Ticket] = deque()
        self._running = False

    def submit(self, operator_id: str, out: Outcome, after: Callable[[], None]) -> Ticket:
        """Queue a batch's bookkeeping; ``after`` runs on the writer once it is committed."""
        return self._queued(Ticket(operator_id, out, after))

    def mark(self, operator_id: str, mailbox: str | None) -> Ticket:
        """A mailbox's sync ended well: its ``mailbox_state`` rides with the next batch booked, or with ``flush``
        (a transaction of its own cost 5 ms idle, 20-75 ms beside busy mailbox threads)."""
        return self._queued(Ticket(operator_id, Outcome(marks=[(operator_id, mailbox, True, None)]), lambda: None,
                                   batch=False, rides=True))

    def flush(self) -> None:
        """Book everything waiting, the marks riding along too; returns once it is committed."""
        self._queued(Ticket("", Outcome(), lambda: None, batch=False)).settle()

    def _queued(self, ticket: Ticket) -> Ticket:
        with self._lock:
            self._queue.append(ticket)
            if not (self._running or ticket.rides):
                self._running = True
                threading.Thread(target=self._drain, daemon=True, name="sync-books").start()
        return ticket

    def _drain(self) -> None:
        while True:
            with self._lock:
                if all(t.rides for t in self._queue):       # nothing, or only marks: they wait for a batch
                    self._running = False
                    return
                group = [self._queue.popleft() for _ in range(min(len(self._queue), MAX_GROUP))]
            try:
                for ticket in group:
                    if ticket.batch:
                        faults.reached(faults.BEFORE_JOURNAL)
                self._commit(group)
            except BaseException as exc:      # never leave a waiter hanging
                for ticket in group:
                    ticket.error = ticket.error or exc
            for ticket in group:
                ticket._finish()

    def _commit(self, group: list[Ticket]) -> None:
        """One transaction for ``group``. A store fault (STORE_BUSY, DISK_FULL, ...) is every batch's error; a
        statement (or its parameters) that failed on the data books each batch alone, so only the bad one keeps
        the error."""
        try:
            statements = deferred(lambda con: commit_all(con, self._run_id, [(t.operator_id, t.out) for t in group]))
            self._write(statements.run)
        except Exception as exc:
            if len(group) == 1 or isinstance(exc, WorkbenchError):
                for ticket in group:
                    ticket.error = exc
                return
            for ticket in group:
                self._commit([ticket])
