"""The execute phase for one mailbox: its write actions in batches of one kind, in ``EXECUTORS`` order.

A batch carries at most ``write_batch`` items (``min(batch_size, backend.limits.max_batch)``). Batches of
one kind are independent: up to ``in_flight`` of them (the backend's ``max_in_flight``; EWS: 1, one after
the other) are sent at once, each by a lane; the next kind starts when every batch of the previous one is
booked. A lane never waits for the store between two sends: it hands a batch's outcomes to the run's writer
(``booking.py``), which commits them (with whatever else is waiting) before the mailbox counts them, and the
lane sends the next batch meanwhile.
"""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

import pandas as pd

from workbench.sync import faults, ledger
from workbench.sync.booking import Ticket
from workbench.sync.calls import call, check
from workbench.sync.executors import EXECUTORS, Executor
from workbench.sync.journal import Outcome, batch_entries
from workbench.sync.plan import Plan
from workbench.sync.results import ProgressEvent
from workbench.sync.state import Box, RunContext

Changes = dict[int, list[tuple]]    # field changes by action id (``Plan.changes_of``)


#: batches a lane may have waiting for the writer while it sends the next one (a crash may lose their
#: bookkeeping; the next run adopts what they wrote by CRM id): about ``WAITING_ITEMS`` items, at least
#: ``WAITING`` batches and at most ``WAITING_MAX``. More lets the writer book more per transaction, whose cost is
#: mostly its statements' count: Graph's lanes (20 items a batch, 16 lanes at 4 mailboxes) spent 59% of their
#: time waiting for the writer with 2 (run_sync 1.71-1.76x plain $batch at 4x500), 1.43-1.57x with 8
WAITING, WAITING_ITEMS, WAITING_MAX = 2, 160, 8


def waiting_window(batch: int) -> int:
    """How many sent batches of ``batch`` items a lane may have waiting for the writer."""
    return min(WAITING_MAX, max(WAITING, WAITING_ITEMS // max(1, batch)))


@dataclass(frozen=True)
class Batch:
    no: int
    executor: Executor
    rows: list[Any]             # the plan's action rows (namedtuples)


def batches(writes: pd.DataFrame, size: int) -> list[Batch]:
    """The mailbox's write actions cut into batches of at most ``size`` actions of one kind, in run order (rows
    made once per kind: a pandas slice and its itertuples per batch cost ~1 ms of the GIL each)."""
    out: list[Batch] = []
    by_kind = dict(tuple(writes.groupby("action", sort=False)))
    for executor in EXECUTORS:
        frame = by_kind.get(executor.kind)
        rows = [] if frame is None else list(frame.itertuples(index=False))
        for start in range(0, len(rows), size):
            out.append(Batch(len(out) + 1, executor, rows[start:start + size]))
    return out


def execute(ctx: RunContext, box: Box, plan: Plan, *, pass_name: str = "") -> list[str]:
    """Run one mailbox's write actions; returns the CRM contact ids changed from Exchange. Every batch it sent
    is booked (or failed) when it returns or raises."""
    todo = batches(plan.writes, ctx.write_batch)
    if not todo:
        return []
    if box.mailbox is None and any(b.executor.writes_exchange or any(bool(r.stamp) for r in b.rows) for b in todo):
        box.mailbox = call(ctx, box, "open mailbox", ctx.backend.open, box.result.mailbox)
    changes = plan.changes_of(plan.writes["action_id"])
    touched: list[str] = []
    kinds = [g for g in ([b for b in todo if b.executor is e] for e in EXECUTORS) if g]
    for n, group in enumerate(kinds, 1):
        sent = box.release if n == len(kinds) else (lambda: None)
        touched += _run_kind(ctx, box, group, changes, len(todo), pass_name, sent)
    return touched


def _run_kind(ctx: RunContext, box: Box, group: list[Batch], changes: Changes, total: int,
              pass_name: str, sent: Callable[[], None]) -> list[str]:
    """Batches of one kind on ``in_flight`` lanes: the mailbox's own thread for one, else daemon threads (an
    abandoned mailbox never holds the process open). After the first stop or error no new batch starts; the
    batches sent are booked, then the error of the first failed batch is raised. ``sent()`` once the last
    lane has sent its last batch, before the bookings are waited for."""
    queue = deque(group)
    lock = threading.Lock()
    touched: dict[int, list[str]] = {}
    errors: dict[int, BaseException] = {}
    lanes = min(ctx.in_flight, len(group))
    sending = [lanes]

    def take() -> Batch | None:
        with lock:
            if queue and not errors:
                return queue.popleft()
            sending[0] -= 1
            last = sending[0] == 0
        if last:
            sent()
        return None

    def lane() -> None:
        _lane(ctx, box, take, changes, total, pass_name, lock, touched, errors)

    if lanes <= 1:
        lane()
    else:
        threads = [threading.Thread(target=lane, daemon=True, name="sync-batch") for _ in range(lanes)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    if errors:
        raise errors[min(errors)]
    return [cid for b in group for cid in touched.get(b.no, [])]


def _lane(ctx: RunContext, box: Box, take: Callable[[], Batch | None], changes: Changes, total: int, pass_name: str,
          lock: threading.Lock, touched: dict[int, list[str]], errors: dict[int, BaseException]) -> None:
    """One sending thread: it sends its next batch while the writer books the ones before, with at most
    ``waiting_window`` of them not booked yet, and waits for everything it sent before it ends, also when it raised."""
    waiting: deque[tuple[int, Ticket]] = deque()
    window = waiting_window(ctx.write_batch)

    def settle(no: int, ticket: Ticket) -> None:
        ticket.settle()
        with lock:
            if ticket.error is not None:
                errors[no] = ticket.error
            else:
                touched[no] = ticket.out.touched_crm

    batch = None
    try:
        while (batch := take()) is not None:
            waiting.append((batch.no, _run_batch(ctx, box, batch, changes, total, pass_name)))
            if len(waiting) > window:
                settle(*waiting.popleft())
    except BaseException as exc:        # raised by _run_kind, on the mailbox's thread
        with lock:
            errors[batch.no if batch is not None else 0] = exc
    finally:
        while waiting:
            settle(*waiting.popleft())


def _run_batch(ctx: RunContext, box: Box, batch: Batch, changes: Changes, total: int, pass_name: str) -> Ticket:
    """Send one batch and hand its outcomes to the run's writer (``booking.py``); ``changes``: the mailbox's
    field changes by action id."""
    check(ctx, box)
    r = box.result
    rows = batch.rows
    t0 = ctx.clock()
    out = Outcome()
    batch.executor.run(ctx, box, rows, out)
    out.booked = ledger.book(out.log, changes, ctx.settings.delete_to, ctx.books.run_id)
    batch_entries(out, changes, operator_id=r.operator_id, kind=batch.executor.kind, batch_no=batch.no,
                  items=len(rows), seconds=ctx.clock() - t0, pass_name=pass_name)
    return ctx.booker.submit(r.operator_id, out, lambda: _booked(ctx, box, batch, total, out, len(rows)))


def _booked(ctx: RunContext, box: Box, batch: Batch, total: int, out: Outcome, items: int) -> None:
    """On the writer, once the batch is committed: its mailbox counts it, progress is reported."""
    r = box.result
    with ctx.counters.lock:
        r.done += out.ok
        r.failed += out.failed
        r.stale += out.stale
    faults.reached(faults.BETWEEN_BATCHES)
    _report(ctx, r.operator_id, batch, total, items)


def _report(ctx: RunContext, operator_id: str, batch: Batch, total: int, items: int) -> None:
    done, items_total = ctx.counters.advance(items)
    if ctx.progress:
        elapsed = max(1e-6, ctx.clock() - ctx.counters.started)
        ctx.progress(ProgressEvent(operator_id, batch.no, total, done, items_total, done / elapsed,
                                   f"{operator_id}: {batch.executor.kind} ({items})"))
