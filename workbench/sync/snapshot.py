"""The snapshot phase: a mailbox's contacts folder, mapped fields only, replaces its rows in
``exchange_contacts``. A mailbox whose snapshot fails is not planned (a stale snapshot could mean wrong
deletes). ``take_snapshots`` is the phase on its own (preview)."""
from __future__ import annotations

import time
from typing import Callable, Sequence

from workbench.errors import WorkbenchError
from workbench.mailbox import MailboxBackend
from workbench.retry import CancelToken
from workbench.store import Store, in_session
from workbench.store import sync_tables as st
from workbench.sync.calls import call
from workbench.sync.mailboxes import each
from workbench.sync.plan import operator_mailboxes
from workbench.sync.results import MailboxResult, ProgressEvent
from workbench.sync.state import Box, RunContext, Stop
from workbench.sync.workers import Watch, run_each


def snapshot(ctx: RunContext, box: Box) -> None:
    r = box.result
    box.mailbox = call(ctx, box, "open mailbox", ctx.backend.open, r.mailbox)
    rows = call(ctx, box, "read contacts", box.mailbox.snapshot, ctx.batch_size)
    ctx.counters.request(max(0, -(-len(rows) // ctx.batch_size)))   # GetItem pages besides the FindItem
    ctx.books.write(lambda con: st.book_snapshot(con, ctx.books.run_id, r.operator_id, r.mailbox, rows))


class Reads:
    """Mailboxes read so far, each reported as progress (phase "snapshot"), so a long planning shows how far
    it is; called from every mailbox worker."""

    def __init__(self, ctx: RunContext, total: int) -> None:
        self.ctx, self.total, self.read = ctx, total, 0

    def one_more(self, operator_id: str) -> None:
        with self.ctx.counters.lock:
            self.read += 1
            done = self.read
        if self.ctx.progress:
            self.ctx.progress(ProgressEvent(operator_id, 0, 0, done, self.total, 0.0,
                                            f"planning: {done}/{self.total} mailboxes read", phase="snapshot"))


def snapshot_all(ctx: RunContext, boxes: Sequence[Box], *, workers: int) -> None:
    """The run's snapshot phase: every mailbox not stopped, at most ``workers`` at once, reported (``Reads``)."""
    reads = Reads(ctx, sum(not b.stopped for b in boxes))

    def one(box: Box) -> None:
        try:
            snapshot(ctx, box)
        finally:
            reads.one_more(box.result.operator_id)
    each(ctx, boxes, one, workers=workers)


@in_session
def take_snapshots(store: Store, operators: Sequence[str] | None = None, *, backend: MailboxBackend | None = None,
                   deadline_seconds: float | None = None,
                   progress: Callable[[ProgressEvent], None] | None = None) -> dict[str, WorkbenchError | None]:
    """Refresh ``exchange_contacts`` for the enabled operators; {operator_id: None or the error}. ``progress``
    gets each mailbox read (``Reads``)."""
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
        finally:
            reads.one_more(op)

    def abandon(box: Box, code: str) -> None:
        box.abandoned = True
        out[box.result.operator_id] = WorkbenchError(code, f"{box.result.mailbox}: snapshot abandoned by the watchdog")
    try:
        workers = max(1, min(int(settings.max_concurrent_mailboxes), len(boxes) or 1))
        run_each(boxes, one, workers=workers, watch=Watch(
            clock=time.monotonic, cancelled=lambda: False, deadline_of=lambda b: b.deadline, on_abandon=abandon,
            stuck_grace=ctx.stuck_grace))
    finally:
        if own_backend:
            backend.close()
    return out
