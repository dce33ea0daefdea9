"""Failure notifications: one e-mail per failed mailbox per run, composed from the catalogue entry."""
from __future__ import annotations

from dataclasses import dataclass

from workbench.errors import CATALOGUE


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
