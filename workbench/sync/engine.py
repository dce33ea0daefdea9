"""The sync engine: ``run_sync`` runs the named phases of ``workbench/sync`` in order.

``run_sync(store, operators=None, dry_run=False, allow_mass_delete=False, progress=None, cancel=None,
trigger="cli") -> RunResult`` is the one entry point (CLI, dashboard, notebooks, agent).

1. **snapshot** (``snapshot.py``, per mailbox, concurrently within ``max_concurrent_mailboxes``): the
   contacts folder replaces that mailbox's rows in ``exchange_contacts``; a mailbox whose snapshot fails
   is not planned. ``snapshot=False`` plans from the stored snapshot (kept current by the agent).
2. **plan** (``plan.py``, pure SQL): all snapshotted mailboxes, before any write; every decision is
   journaled. The mass-deletion guard stops a mailbox unless ``allow_mass_delete``.
3. **revalidate** (``revalidate.py``, only when applying a previewed plan): what is still exactly as
   previewed is applied, the rest journaled ``PLAN_STALE``.
4. **execute** (``execute.py`` + ``executors.py``, per mailbox, concurrently): batches of one action kind
   within the backend's limits, one executor per kind sends a batch through the ``Mailbox`` and books its
   outcomes; 5. **journal** (``journal.py``): each batch's outcomes committed in one store transaction.
   An Exchange edit written to the CRM is then pushed to the other mailboxes linked to that contact
   (propagation: a second, small plan from the stored snapshot, executed the same way).
6. **notify** (``notify.py``): one failure e-mail per mailbox that stopped.

Requests are retried (``calls.py``, ``workbench.retry``) until the mailbox's deadline
(``notification_frequency_minutes`` or ``deadline_seconds``); a cancel or a permanent error stops that
mailbox only; the watchdog (``workers.py``, ``mailboxes.py``) makes sure the run ends. ``faults.py`` is
the crash-test hook at named points.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Sequence

from workbench.errors import WorkbenchError
from workbench.mailbox import MailboxBackend
from workbench.retry import CancelToken
from workbench.store import Store, in_session
from workbench.store import sync_tables as st
from workbench.store.deferred import deferred
from workbench.sync import faults, lifecycle, notify
from workbench.sync.execute import execute
from workbench.sync.journal import plan_entries
from workbench.sync.booking import Ticket
from workbench.sync.mailboxes import each, stop_on_error
from workbench.sync.plan import Plan, operator_mailboxes, read_plan
from workbench.sync.results import MailboxResult, ProgressEvent, RunResult
from workbench.sync.revalidate import only, stale_entry, still_valid
from workbench.sync.snapshot import snapshot_all
from workbench.sync.state import Books, Box, RunContext
from workbench.sync.status import account_stopped, preview_scope, run_status

__all__ = ["CancelToken", "MailboxResult", "ProgressEvent", "RunResult", "run_sync"]


def _settings(store: Store, dry_run: bool) -> Any:
    from workbench.store.settings_table import load
    settings = load(store)
    if not settings.contact_integration and not dry_run:
        raise WorkbenchError("SYNC_DISABLED", "contact_integration=false")
    faults.armed()          # a malformed kill point fails before the run starts
    return settings


def _narrow(store: Store, plan: Any,
            operators: Sequence[str] | None) -> tuple[Plan | None, Plan | None, Sequence[str] | None]:
    """(the previewed plan, its part to apply, the operators to run: those of ``operators`` with writes in it);
    unknown operators are the caller's error."""
    from workbench.store.operators_table import require_known
    previewed = part = None
    if plan is not None:
        previewed, wanted = preview_scope(plan)
        if operators is not None:
            keep = set(operators)
            wanted = [op for op in wanted if op in keep]
        operators, part = wanted, only(previewed, wanted)
    if operators is not None:
        require_known(store, operators)
    return previewed, part, operators


def _switched_off(books: Books, previewed: Plan, operators: Sequence[str],
                  boxes: dict[str, Box]) -> list[MailboxResult]:
    """Previewed mailboxes whose contact sync was switched off since: nothing of theirs is applied."""
    gone = []
    for op in [o for o in operators if o not in boxes]:
        sub = previewed.for_operator(op)
        r = MailboxResult(op, str(sub.operators["mailbox"].iloc[0]) if len(sub.operators) else "",
                          status="skipped", code="PLAN_STALE", planned=len(sub.writes), stale=len(sub.writes),
                          detail="contact sync was switched off since the preview; nothing applied")
        gone.append(r)
        books.log([stale_entry(row, r.detail) for row in sub.writes.itertuples(index=False)])
    return gone


def _open_backend(store: Store, run_id: int, settings: Any) -> MailboxBackend:
    from workbench.backends import open_backend
    try:
        return open_backend(settings)
    except WorkbenchError as err:
        with store.write() as con:
            st.journal(con, run_id, [{"action": "connect", "outcome": "failed", "code": err.code,
                                      "detail": err.detail}])
            st.finish_run(con, run_id, status="failed", done=0, failed=0, requests=0, retries=0)
        raise


def _plan(ctx: RunContext, ready: list[str], previewed: Plan | None, dry_run: bool,
          boxes: dict[str, Box]) -> tuple[Plan, Plan]:
    """The plan phase (and revalidation of a previewed plan): (the plan to execute, the plan decided)."""
    fresh = ctx.books.write(lambda con: read_plan(con, ctx.settings, ready)).assemble()
    if previewed is None:
        entries = plan_entries(fresh, dry_run)
        decided = todo = fresh
    else:
        decided = previewed
        todo, stale, unpreviewed = still_valid(previewed, fresh, ready)
        entries = plan_entries(previewed, dry_run, preview=True) + stale + unpreviewed
        for e in stale:
            boxes[e["operator_id"]].result.stale += 1
    books = deferred(lambda con: st.journal(con, ctx.books.run_id, entries))   # one transaction, built first
    books.execute("UPDATE sync_runs SET planned = ? WHERE run_id = ?", [len(decided.writes), ctx.books.run_id])
    ctx.books.write(books.run)
    return todo, decided


def _count_and_guard(ctx: RunContext, decided: Plan, ready: list[str], boxes: dict[str, Box], *,
                     stops: bool) -> None:
    """Each mailbox's planned and skipped counts; the mass-deletion guard stops a mailbox when ``stops``."""
    ready_set = set(ready)
    for op, box in boxes.items():
        sub = decided.for_operator(op)
        box.result.planned = len(sub.writes)      # a mailbox whose snapshot failed shows them as left
        if op not in ready_set:
            continue
        box.result.skipped = int((sub.actions["action"] == "skip").sum())
        if stops and decided.guard_tripped(op):
            row = sub.operators.iloc[0]
            box.stopped = True
            box.result.status, box.result.code = "guarded", "MASS_DELETE"
            box.result.detail = notify.guard_detail(op, int(row["deletes"]), int(row["links"]),
                                                    int(ctx.settings.mass_delete_percent))
            ctx.books.log([{"operator_id": op, "action": "mailbox", "outcome": "skipped", "code": "MASS_DELETE",
                            "detail": box.result.detail}])
            ctx.to_notify.append((box, "MASS_DELETE", box.result.detail))   # once: notify_failure dedups


def _execute_all(ctx: RunContext, plan: Plan, boxes: list[Box], workers: int) -> set[str]:
    """The execute phase for every mailbox not stopped; the CRM contact ids written from Exchange."""
    ctx.counters.items_total = sum(len(plan.for_operator(b.result.operator_id).writes) for b in boxes
                                   if not b.stopped)
    ctx.counters.started = ctx.clock()      # items/s counts from the first write: snapshot and plan write nothing
    touched: dict[str, list[str]] = {}
    marks: list[tuple[Box, Ticket]] = []

    def one(box: Box) -> None:
        touched[box.result.operator_id] = execute(ctx, box, plan.for_operator(box.result.operator_id))
        if box.abandoned:
            return
        box.result.settle()
        marks.append((box, ctx.booker.mark(box.result.operator_id, box.result.mailbox)))
    each(ctx, boxes, one, workers=workers)
    ctx.booker.flush()
    for box, ticket in marks:
        if ticket.error is not None and not box.abandoned:
            stop_on_error(ctx, box, ticket.error)
            if box.error is not None:
                raise box.error
    return {c for ids in touched.values() for c in ids}


def _propagate(ctx: RunContext, boxes: list[Box], changed: set[str], workers: int) -> None:
    """Exchange edits the run wrote to the CRM, pushed to the other mailboxes linked to those contacts."""
    again = [b.result.operator_id for b in boxes if b.result.status in ("ok", "partial")]
    second = ctx.books.write(lambda con: read_plan(con, ctx.settings, again)).assemble()
    follow = second.actions[(second.actions["action"] == "update-exchange")
                            & second.actions["contact_id"].isin(changed)]
    if not len(follow):
        return
    extra = Plan(second.settings, follow.reset_index(drop=True),
                 second.changes[second.changes["action_id"].isin(follow["action_id"])], second.operators)
    ctx.books.log(plan_entries(extra, False))
    ctx.counters.items_total += len(follow)

    def one(box: Box) -> None:
        sub = extra.for_operator(box.result.operator_id)
        box.result.planned += len(sub.writes)
        execute(ctx, box, sub, pass_name="propagate ")
        if not box.abandoned:
            box.result.settle()
    wanted = set(follow["operator_id"])
    each(ctx, [b for b in boxes if b.result.operator_id in wanted], one, workers=workers)


def _finish(ctx: RunContext, results: list[MailboxResult]) -> str:
    account_stopped(results)
    status = str(run_status(results, cancelled=ctx.cancel.cancelled))
    c = ctx.counters
    ctx.books.write(lambda con: st.finish_run(con, ctx.books.run_id, status=status,
                                              done=sum(r.done for r in results),
                                              failed=sum(r.failed for r in results),
                                              requests=c.requests, retries=c.retries))
    return status


@in_session
def run_sync(store: Store, operators: Sequence[str] | None = None, dry_run: bool = False,
             allow_mass_delete: bool = False, progress: Callable[[ProgressEvent], None] | None = None,
             cancel: CancelToken | None = None, trigger: str = "cli", *, snapshot: bool = True,
             deadline_seconds: float | None = None, clock: Callable[[], float] = time.monotonic,
             backend: MailboxBackend | None = None, propagate: bool | None = None, plan: Any = None) -> RunResult:
    """Snapshot, plan and (unless ``dry_run``) execute the sync of the given operators (default: all enabled).

    ``deadline_seconds`` overrides notification_frequency_minutes as the per-mailbox retry deadline, measured
    with ``clock``; ``backend`` an open ``MailboxBackend`` (else ``workbench.backends.open_backend``).
    ``plan``: a previewed ``Plan`` (or ``Preview``) to apply instead of a new plan: only its mailboxes with
    writes, each snapshotted and planned again, only what is still as previewed (``revalidate.py``); no
    propagation unless ``propagate=True``; ``result.plan`` is the previewed plan.
    """
    t_start = time.monotonic()
    with store.write():         # the run's start holds the store once: another process waits one turn, not four
        settings = _settings(store, dry_run)
        previewed_all, previewed, operators = _narrow(store, plan, operators)
        with lifecycle.applying(None if dry_run else previewed_all, store, operators) as started:
            with store.write() as con:
                targets = operator_mailboxes(con, operators)
            run_id = st.start_run(store, trigger=trigger, dry_run=dry_run, planned=0,
                                  operators=len(operators if previewed is not None else targets),
                                  backends=[settings.backend_for(mb) for mb in targets["mailbox"]])
            started(run_id)
    propagate = previewed is None if propagate is None else propagate
    cancel = cancel or CancelToken()
    boxes = {op: Box(MailboxResult(op, mb, backend=settings.backend_for(mb)), deadline=0.0)
             for op, mb in zip(targets["operator_id"], targets["mailbox"])}
    gone = _switched_off(Books(store, run_id), previewed, operators, boxes) if previewed is not None else []
    own_backend = backend is None
    if own_backend and (snapshot or not dry_run):
        backend = _open_backend(store, run_id, settings)
    ctx = RunContext.create(store, settings, run_id=run_id, backend=backend, cancel=cancel,
                            deadline_seconds=deadline_seconds, clock=clock, progress=progress)
    for box in boxes.values():
        box.deadline = clock() + ctx.deadline_seconds
    workers = max(1, min(int(settings.max_concurrent_mailboxes), len(boxes) or 1))
    todo: Plan | None = None
    touched: set[str] = set()
    try:
        if snapshot:
            snapshot_all(ctx, list(boxes.values()), workers=workers)
        ready = [op for op, b in boxes.items() if not b.stopped]
        todo, decided = _plan(ctx, ready, previewed, dry_run, boxes)
        _count_and_guard(ctx, decided, ready, boxes, stops=not (allow_mass_delete or dry_run))
        if dry_run:
            for op in ready:
                boxes[op].result.status = "dry-run"
        else:
            touched = _execute_all(ctx, todo, [boxes[op] for op in ready], workers)
            if propagate and touched and not cancel.cancelled:
                _propagate(ctx, [boxes[op] for op in ready], touched, workers)
        notify.notify_all(ctx)
    finally:
        results = [b.result for b in boxes.values()] + gone
        status = _finish(ctx, results)
        if own_backend and backend is not None:
            backend.close()
    return RunResult(run_id, status, dry_run, previewed_all if previewed is not None else todo, results,
                     ctx.counters.requests, ctx.counters.retries, time.monotonic() - t_start, touched_crm=touched)
