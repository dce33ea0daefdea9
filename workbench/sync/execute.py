"""The execute phase for one mailbox: its write actions in batches of one kind, in ``EXECUTORS`` order.

A batch carries at most ``write_batch`` items (``min(batch_size, backend.limits.max_batch)``). Batches of
one kind are independent: up to ``in_flight`` of them (the backend's ``max_in_flight``; EWS: 1, one after
the other) are sent at once; the next kind starts when every batch of the previous one is booked. Each
batch's outcomes are committed in one store transaction before the mailbox counts them.
"""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

import pandas as pd

from workbench.store.deferred import deferred
from workbench.sync import faults, ledger
from workbench.sync.calls import call, check
from workbench.sync.executors import EXECUTORS, Executor
from workbench.sync.journal import Outcome, batch_entries, commit
from workbench.sync.plan import Plan
from workbench.sync.results import ProgressEvent
from workbench.sync.state import Box, RunContext


@dataclass(frozen=True)
class Batch:
    no: int
    executor: Executor
    frame: pd.DataFrame


def batches(writes: pd.DataFrame, size: int) -> list[Batch]:
    """The mailbox's write actions cut into batches of at most ``size`` actions of one kind, in run order."""
    out: list[Batch] = []
    by_kind = dict(tuple(writes.groupby("action", sort=False)))
    for executor in EXECUTORS:
        frame = by_kind.get(executor.kind)
        for start in range(0, 0 if frame is None else len(frame), size):
            out.append(Batch(len(out) + 1, executor, frame.iloc[start:start + size]))
    return out


def execute(ctx: RunContext, box: Box, plan: Plan, *, pass_name: str = "") -> list[str]:
    """Run one mailbox's write actions; returns the CRM contact ids changed from Exchange."""
    todo = batches(plan.writes, ctx.write_batch)
    if not todo:
        return []
    if box.mailbox is None and any(b.executor.writes_exchange or bool(b.frame["stamp"].any()) for b in todo):
        box.mailbox = call(ctx, box, "open mailbox", ctx.backend.open, box.result.mailbox)
    touched: list[str] = []
    for executor in EXECUTORS:
        group = [b for b in todo if b.executor is executor]
        if ctx.in_flight <= 1 or len(group) <= 1:
            for batch in group:
                touched += _run_batch(ctx, box, batch, plan, len(todo), pass_name)
        else:
            touched += _run_concurrently(ctx, box, group, plan, len(todo), pass_name)
    return touched


def _run_concurrently(ctx: RunContext, box: Box, group: list[Batch], plan: Plan, total: int,
                      pass_name: str) -> list[str]:
    """Batches of one kind on ``in_flight`` daemon threads (an abandoned mailbox never holds the process open).
    After the first stop or error no new batch starts; the batches in flight are booked, then it is raised."""
    queue = deque(group)
    lock = threading.Lock()
    touched: dict[int, list[str]] = {}
    errors: dict[int, BaseException] = {}

    def worker() -> None:
        while True:
            with lock:
                if not queue or errors:
                    return
                batch = queue.popleft()
            try:
                touched[batch.no] = _run_batch(ctx, box, batch, plan, total, pass_name)
            except BaseException as exc:        # re-raised below, on the mailbox's thread
                with lock:
                    errors[batch.no] = exc

    threads = [threading.Thread(target=worker, daemon=True, name="sync-batch")
               for _ in range(min(ctx.in_flight, len(group)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[min(errors)]
    return [cid for b in group for cid in touched.get(b.no, [])]


def _run_batch(ctx: RunContext, box: Box, batch: Batch, plan: Plan, total: int,
               pass_name: str) -> list[str]:
    check(ctx, box)
    r = box.result
    rows = list(batch.frame.itertuples(index=False))
    t0 = ctx.clock()
    out = Outcome()
    batch.executor.run(ctx, box, rows, out)
    changes = plan.changes_of(batch.frame["action_id"])
    out.booked = ledger.book(out.log, changes, ctx.settings.delete_to)
    batch_entries(out, changes, operator_id=r.operator_id, kind=batch.executor.kind, batch_no=batch.no,
                  items=len(rows), seconds=ctx.clock() - t0, pass_name=pass_name)
    statements = deferred(lambda con: commit(con, ctx.books.run_id, r.operator_id, out))
    faults.reached(faults.BEFORE_JOURNAL)
    ctx.books.write(statements.run)
    with ctx.counters.lock:
        r.done += out.ok
        r.failed += out.failed
        r.stale += out.stale
    faults.reached(faults.BETWEEN_BATCHES)
    _report(ctx, r.operator_id, batch, total, len(rows))
    return out.touched_crm


def _report(ctx: RunContext, operator_id: str, batch: Batch, total: int, items: int) -> None:
    done, items_total = ctx.counters.advance(items)
    if ctx.progress:
        elapsed = max(1e-6, ctx.clock() - ctx.counters.started)
        ctx.progress(ProgressEvent(operator_id, batch.no, total, done, items_total, done / elapsed,
                                   f"{operator_id}: {batch.executor.kind} ({items})"))
