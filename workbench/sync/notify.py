"""The notify phase: one failure e-mail per stopped mailbox per run, composed from the catalogue entry, sent
as the service identity and recorded in ``notifications``.

The same failure is e-mailed again only after ``REMIND_AFTER``. No attempt starts after the notify budget
(``NOTIFY_BUDGET``, at most the mailbox deadline); a sender still busy one request (and its booking) past
it is abandoned.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from workbench.errors import CATALOGUE, WorkbenchError
from workbench.retry import RetryPolicy, RetryStopped
from workbench.store import now
from workbench.store import sync_tables as st
from workbench.sync.state import Box, RunContext
from workbench.sync.workers import Watch, run_each

#: a mailbox failing the same way again is e-mailed about again only after this long
REMIND_AFTER = timedelta(hours=24)
#: longest back-off between two tries of a failure e-mail
NOTIFY_MAX_WAIT = 5.0
#: seconds the notify phase may take for all the run's failure e-mails together (at most the mailbox deadline)
NOTIFY_BUDGET = 30.0


@dataclass(frozen=True)
class FailureMail:
    subject: str
    body: str
    code: str


def guard_detail(operator_id: str, deletes: int, links: int, percent: int) -> str:
    """The mass-deletion guard's message: the operator, the share and the command that allows it."""
    share = 100.0 * deletes / links if links else 100.0
    return (f"plan deletes or unlinks {deletes} of {links} links of {operator_id} ({share:.0f}%, more than "
            f"mass_delete_percent={percent}%); if intended, allow it with "
            f"`workbench sync run --operator {operator_id} --allow-mass-delete`")


def compose(*, run_id: int | None, operator_id: str, mailbox: str, code: str, detail: str, done: int,
            left: int, failed: int, deadline_minutes: float | None = None) -> FailureMail:
    f = CATALOGUE.get(code) or CATALOGUE["EWS_PROTOCOL"]
    subject = f"[workbench] Contact sync failed for {operator_id} ({mailbox}): {f.code}"
    lines = [
        f"The contact sync for operator {operator_id}, mailbox {mailbox}, stopped.",
        "",
        f"Failure:  {f.code}: {f.title}",
        f"Cause:    {f.cause}",
        f"Detail:   {detail or '-'}",
        f"Remedy:   {f.remedy}",
        "",
        f"Done:     {done} action(s) completed in this run",
        f"Left:     {left} action(s) not done (the next run picks them up)",
        f"Failed:   {failed} item(s) rejected",
    ]
    if deadline_minutes is not None and f.transient:
        lines.append(f"Retried for {deadline_minutes:g} minute(s) (notification_frequency_minutes) before giving up.")
    lines += ["", f"Run: {run_id if run_id is not None else '-'}   "
              f"See `workbench log --run {run_id} --operator {operator_id}` for every decision and outcome."]
    return FailureMail(subject, "\n".join(lines) + "\n", f.code)


def notify_all(ctx: RunContext) -> None:
    """The notify phase for the mailboxes ``stop_box`` queued, each once."""
    first: dict[str, tuple[Box, str, str]] = {}
    for item in ctx.to_notify:
        first.setdefault(item[0].result.operator_id, item)
    queued = list(first.values())
    if not queued:
        return
    budget = min(NOTIFY_BUDGET, ctx.deadline_seconds)
    end = ctx.clock() + budget

    def abandoned(item: tuple[Box, str, str], code: str) -> None:
        ctx.books.log([{"operator_id": item[0].result.operator_id, "action": "notify", "outcome": "failed",
                        "code": item[1], "detail": f"failure e-mail abandoned: Exchange did not answer within "
                                                   f"{budget + ctx.stuck_grace:g}s"}])
    run_each(queued, lambda item: _notify_failure(ctx, *item, end=end), workers=len(queued),
             watch=Watch(clock=ctx.clock, cancelled=lambda: False, deadline_of=lambda item: end,
                         on_abandon=abandoned, stuck_grace=ctx.stuck_grace), name="sync-notify")


def _send(ctx: RunContext, recipients: list[str], mail: FailureMail, end: float) -> str | None:
    """Send as the service identity, retrying transient faults until ``end``; the problem or None."""
    policy = RetryPolicy(deadline=end, clock=ctx.clock, cancel=ctx.cancel, cap=NOTIFY_MAX_WAIT)
    try:
        policy.call(lambda _: ctx.backend.send_mail(recipients, mail.subject, mail.body))
        return None
    except WorkbenchError as err:
        return f"{err.code}: {err.detail}"
    except RetryStopped as stop:
        return f"{stop.last.code}: {stop.last.detail}" if stop.last else "cancelled before it was sent"


def _already_sent(ctx: RunContext, operator_id: str, code: str) -> datetime | None:
    """When the same failure was e-mailed since the mailbox last succeeded, within REMIND_AFTER; else None."""
    return ctx.books.write(lambda con: con.execute(
        "SELECT max(n.sent_at) FROM notifications n LEFT JOIN mailbox_state m USING (operator_id) "
        "WHERE n.operator_id = ? AND n.code = ? AND n.status = 'sent' AND n.sent_at >= ? "
        "AND (m.last_success_at IS NULL OR n.sent_at > m.last_success_at)",
        [operator_id, code, now() - REMIND_AFTER]).fetchone()[0])


def _notify_failure(ctx: RunContext, box: Box, code: str, detail: str, *, end: float) -> None:
    r = box.result
    run_id = ctx.books.run_id
    earlier = _already_sent(ctx, r.operator_id, code)
    if earlier is not None:
        # still the same failure, already reported: no e-mail every slot (a reminder after REMIND_AFTER)
        ctx.books.log([{"operator_id": r.operator_id, "action": "notify", "outcome": "skipped", "code": code,
                        "detail": f"same failure already e-mailed at {earlier:%Y-%m-%d %H:%M} UTC; "
                                  f"a reminder from {earlier + REMIND_AFTER:%Y-%m-%d %H:%M} UTC if it lasts"}])
        return
    mail = compose(run_id=run_id, operator_id=r.operator_id, mailbox=r.mailbox, code=code, detail=detail,
                   done=r.done, left=r.left, failed=r.failed,
                   deadline_minutes=ctx.deadline_seconds / 60.0 if code == "SYNC_DEADLINE" else None)
    recipients = ctx.settings.recipients
    problem = _send(ctx, recipients, mail, end) if recipients else "failure_recipients is empty"
    status = "sent" if problem is None else "failed"
    body = mail.body if problem is None else mail.body + f"\n(not sent: {problem})\n"
    ctx.books.write(lambda con: (
        st.record_notification(con, run_id=run_id, operator_id=r.operator_id, recipients=";".join(recipients),
                               subject=mail.subject, code=code, body=body, status=status),
        st.journal(con, run_id, [{"operator_id": r.operator_id, "action": "notify",
                                  "outcome": "ok" if status == "sent" else "failed", "code": code,
                                  "detail": f"failure e-mail to {';'.join(recipients) or '-'}"
                                            + (f" not sent: {problem}" if problem else "")}])))
    r.notified = status == "sent"
