"""A phase for every mailbox of a run, concurrently under the watchdog (``workers.run_each``): a stop or a
catalogue error ends that mailbox only (journaled, its state marked, its failure e-mail queued for the
notify phase); an unexpected exception is re-raised once every worker is done."""
from __future__ import annotations

from typing import Any, Callable, Sequence

from workbench.errors import WorkbenchError
from workbench.store import sync_tables as st
from workbench.sync.state import Box, RunContext, Stop
from workbench.sync.status import stop_status
from workbench.sync.workers import Watch, run_each

#: after a cancel, seconds the workers get to finish the request in flight before they are abandoned
CANCEL_GRACE = 5.0


def stop_box(ctx: RunContext, box: Box, status: str, code: str, detail: str) -> None:
    """A mailbox ends early: result, journal, mailbox state; its failure e-mail waits for the notify phase."""
    box.stopped = True
    r = box.result
    r.status, r.code, r.detail = status, code, detail
    ctx.books.log([{"operator_id": r.operator_id, "action": "mailbox", "outcome": "cancelled"
                    if status == "cancelled" else "failed", "code": code,
                    "detail": f"{r.mailbox}: {detail}; done {r.done}, left {r.left}"}])
    if status == "cancelled":
        return          # a person's cancel: no failure streak, no e-mail
    ctx.books.write(lambda con: st.mark_mailbox(con, r.operator_id, r.mailbox, ok=False, code=code))
    with ctx.counters.lock:
        ctx.to_notify.append((box, code, detail))


def stop_on_error(ctx: RunContext, box: Box, exc: BaseException) -> None:
    """What an error raised for a mailbox does: a stop or a catalogue error stops it; anything else is a bug,
    which the run re-raises once every worker is done."""
    if isinstance(exc, Stop):
        stop_box(ctx, box, stop_status(exc.code), exc.code, exc.detail)
    elif isinstance(exc, WorkbenchError):
        stop_box(ctx, box, "failed", exc.code, exc.detail)
    else:
        box.error = exc


def _guarded(ctx: RunContext, fn: Callable[[Box], Any]) -> Callable[[Box], None]:
    def job(box: Box) -> None:
        if box.stopped:
            return
        try:
            fn(box)
        except BaseException as exc:
            if not box.abandoned or not isinstance(exc, (Stop, WorkbenchError)):
                stop_on_error(ctx, box, exc)
    return job


def each(ctx: RunContext, boxes: Sequence[Box], fn: Callable[[Box], Any], *, workers: int) -> None:
    """``fn`` for every mailbox not stopped yet, at most ``workers`` at once."""
    lost: list[tuple[Box, str]] = []

    def abandon(box: Box, code: str) -> None:
        box.abandoned = True
        lost.append((box, code))
    watch = Watch(clock=ctx.clock, cancelled=lambda: ctx.cancel.cancelled, deadline_of=lambda b: b.deadline,
                  on_abandon=abandon, stuck_grace=ctx.stuck_grace, cancel_grace=CANCEL_GRACE)
    run_each([b for b in boxes if not b.stopped], _guarded(ctx, fn), workers=workers, watch=watch,
             bind=lambda box, release: setattr(box, "release", release))
    for box, code in lost:
        detail = ("cancelled by a person; the request in flight was abandoned" if code == "SYNC_CANCELLED"
                  else f"worker still busy {ctx.stuck_grace:g}s past the mailbox deadline; abandoned")
        stop_box(ctx, box, stop_status(code), code, detail)
    errors = [b.error for b in boxes if b.error is not None]
    if errors:
        raise errors[0]
