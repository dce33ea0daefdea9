"""The snapshot phase: a mailbox's contacts folder, mapped fields only, replaces its rows in
``exchange_contacts``. A mailbox whose snapshot fails is not planned (a stale snapshot could mean wrong
deletes). ``take_snapshots`` is the phase on its own (preview)."""
from __future__ import annotations

import time
from typing import Sequence

from workbench.errors import WorkbenchError
from workbench.mailbox import MailboxBackend
from workbench.retry import CancelToken
from workbench.store import Store, in_session
from workbench.store import sync_tables as st
from workbench.sync.calls import call
from workbench.sync.plan import operator_mailboxes
from workbench.sync.results import MailboxResult
from workbench.sync.state import Box, RunContext, Stop
from workbench.sync.workers import Watch, run_each


def snapshot(ctx: RunContext, box: Box) -> None:
    r = box.result
    box.mailbox = call(ctx, box, "open mailbox", ctx.backend.open, r.mailbox)
    rows = call(ctx, box, "read contacts", box.mailbox.snapshot, ctx.batch_size)
    ctx.counters.request(max(0, -(-len(rows) // ctx.batch_size)))   # GetItem pages besides the FindItem
    ctx.books.write(lambda con: st.book_snapshot(con, ctx.books.run_id, r.operator_id, r.mailbox, rows))


@in_session
def take_snapshots(store: Store, operators: Sequence[str] | None = None, *, backend: MailboxBackend | None = None,
                   deadline_seconds: float | None = None) -> dict[str, WorkbenchError | None]:
    """Refresh ``exchange_contacts`` for the enabled operators; {operator_id: None or the error}."""
    from workbench.store.settings_table import load
    settings = load(store)
    with store.write() as con:
        targets = operator_mailboxes(con, operators)
    own_backend = backend is None
    if backend is None:
        from workbench.backends import open_backend
        backend = open_backend(settings)
    ctx = RunContext.create(store, settings, run_id=None, backend=backend, cancel=CancelToken(),
                            deadline_seconds=deadline_seconds, clock=time.monotonic)
    out: dict[str, WorkbenchError | None] = {}
    start = time.monotonic()
    boxes = [Box(MailboxResult(op, mb), deadline=start + ctx.deadline_seconds)
             for op, mb in zip(targets["operator_id"], targets["mailbox"])]

    def one(box: Box) -> None:
        op = box.result.operator_id
        try:
            snapshot(ctx, box)
            out[op] = None
        except Stop as stop:
            out[op] = stop.last or WorkbenchError(stop.code, stop.detail)
        except WorkbenchError as err:
            out[op] = err

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
