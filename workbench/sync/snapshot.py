"""The snapshot phase: a mailbox's contacts folder, mapped fields only, replaces its rows in
``exchange_contacts``. A mailbox whose snapshot fails is not planned (a stale snapshot could mean wrong
deletes). ``take_snapshots`` is the phase on its own (preview)."""
from __future__ import annotations

import threading
import time
from typing import Callable, Sequence

from workbench.errors import WorkbenchError
from workbench.mailbox import MailboxBackend
from workbench.retry import CancelToken
from workbench.store import Store, in_session
from workbench.store import sync_tables as st
from workbench.store.deferred import deferred
from workbench.sync.calls import call
from workbench.sync.mailboxes import each
from workbench.sync.plan import operator_mailboxes
from workbench.sync.results import MailboxResult, Phase, ProgressEvent
from workbench.sync.state import Box, RunContext, Stop
from workbench.sync.workers import Watch, run_each


def snapshot(ctx: RunContext, box: Box) -> None:
    r = box.result
    box.mailbox = call(ctx, box, "open mailbox", ctx.backend.open, r.mailbox)
    rows = call(ctx, box, "read contacts", box.mailbox.snapshot, ctx.batch_size)
    ctx.counters.request(max(0, -(-len(rows) // ctx.batch_size)))   # GetItem pages besides the FindItem
    # the rows' hashes and typed lists are built before the store's gate is taken (``deferred``)
    books = deferred(lambda con: st.book_snapshot(con, ctx.books.run_id, r.operator_id, r.mailbox, rows))
    ctx.books.write(books.run)


class Reads:
    """Mailboxes done so far in a snapshot phase (read, or failed), each reported as progress (phase
    SNAPSHOT), so a long planning shows how far it is. Called from every mailbox worker: the count and the
    callback are taken under one lock, so the callback sees 1, 2, ... N in order; a mailbox the watchdog
    abandoned, or one ending after ``close``, is not reported. The callback's own exception does not replace
    the mailbox's outcome: ``close`` raises the first one once the phase is over."""

    def __init__(self, ctx: RunContext, total: int) -> None:
        self.ctx, self.total, self.done = ctx, total, 0
        self.lock = threading.Lock()
        self.closed = False
        self.error: BaseException | None = None

    def one_more(self, box: Box) -> None:
        with self.lock:
            if self.closed or box.abandoned or self.error is not None or not self.ctx.progress:
                return
            self.done += 1
            try:
                self.ctx.progress(ProgressEvent(box.result.operator_id, 0, 0, self.done, self.total, 0.0,
                                                f"planning: {self.done}/{self.total} mailboxes done",
                                                phase=Phase.SNAPSHOT))
            except BaseException as exc:     # a bug in the caller's callback: raised by close()
                self.error = exc

    def close(self, *, quiet: bool = False) -> None:
        """The phase is over; ``quiet``: it failed already, its error is the one to see."""
        with self.lock:
            self.closed = True
        if self.error is not None and not quiet:
            raise self.error


def snapshot_all(ctx: RunContext, boxes: Sequence[Box], *, workers: int) -> None:
    """The run's snapshot phase: every mailbox not stopped, at most ``workers`` at once, reported (``Reads``)."""
    reads = Reads(ctx, sum(not b.stopped for b in boxes))

    def one(box: Box) -> None:
        try:
            snapshot(ctx, box)
        finally:
            reads.one_more(box)
    try:
        each(ctx, boxes, one, workers=workers)
    except BaseException:
        reads.close(quiet=True)
        raise
    reads.close()


@in_session
def take_snapshots(store: Store, operators: Sequence[str] | None = None, *, backend: MailboxBackend | None = None,
                   deadline_seconds: float | None = None,
                   progress: Callable[[ProgressEvent], None] | None = None) -> dict[str, WorkbenchError | None]:
    """Refresh ``exchange_contacts`` for the enabled operators; {operator_id: None or the error}. ``progress``
    gets each mailbox done (``Reads``)."""
    from workbench.store.settings_table import load
    settings = load(store)
    with store.write() as con:
        targets = operator_mailboxes(con, operators)
    own_backend = backend is None
    if backend is None:
        from workbench.backends import open_backend
        backend = open_backend(settings)
    ctx = RunContext.create(store, settings, run_id=None, backend=backend, cancel=CancelToken(),
                            deadline_seconds=deadline_seconds, clock=time.monotonic, progress=progress)
    out: dict[str, WorkbenchError | None] = {}
    start = time.monotonic()
    boxes = [Box(MailboxResult(op, mb), deadline=start + ctx.deadline_seconds)
             for op, mb in zip(targets["operator_id"], targets["mailbox"])]
    reads = Reads(ctx, len(boxes))

    def one(box: Box) -> None:
        op = box.result.operator_id
        try:
            snapshot(ctx, box)
            out[op] = None
        except Stop as stop:
            out[op] = stop.last or WorkbenchError(stop.code, stop.detail)
        except WorkbenchError as err:
            out[op] = err
        except BaseException as exc:      # a bug: raised once every worker is done, as a run does
            box.error = exc
        finally:
            reads.one_more(box)

    def abandon(box: Box, code: str) -> None:
        box.abandoned = True
        out[box.result.operator_id] = WorkbenchError(code, f"{box.result.mailbox}: snapshot abandoned by the watchdog")
    try:
        workers = max(1, min(int(settings.max_concurrent_mailboxes), len(boxes) or 1))
        run_each(boxes, one, workers=workers, watch=Watch(
            clock=time.monotonic, cancelled=lambda: False, deadline_of=lambda b: b.deadline, on_abandon=abandon,
            stuck_grace=ctx.stuck_grace))
        bug = next((b.error for b in boxes if b.error is not None), None)
        reads.close(quiet=bug is not None)
        if bug is not None:
            raise bug
    finally:
        if own_backend:
            backend.close()
    return out
