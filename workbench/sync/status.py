"""The one run-status rule, whoever started the run (Preview apply, `r`, CLI, agent, notebook).

Every enabled operator in a run's scope ends it in exactly one ``MailboxState``: done, failed with a
code, skipped with a reason, or cancelled (by a person; never a failure). A mailbox that stopped
accounts for every planned write it did not reach: as failed when an error stopped it, as cancelled
when a person did, so ``planned = done + failed + stale + cancelled`` for each mailbox and for the run;
only a mailbox skipped with a reason (the mass-deletion guard) keeps its planned writes ``left``.
The run is ``cancelled`` when a person cancelled it, ``ok`` when every mailbox is done with nothing failed
or stale, ``failed`` when none is done and some failed, else ``partial``.

A preview's scope is the mailboxes it planned writes for plus those it could not plan (its errors),
so applying it reports an unreachable mailbox exactly as `r` does: failed, journaled, e-mailed once.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

from workbench.store.vocabulary import MailboxState, RunStatus

#: MailboxResult.status -> the state it ends the run in (``pending``: the run died before it settled)
_STATES = {"ok": MailboxState.DONE, "dry-run": MailboxState.DONE, "partial": MailboxState.DONE,
           "failed": MailboxState.FAILED, "pending": MailboxState.FAILED,
           "guarded": MailboxState.SKIPPED, "skipped": MailboxState.SKIPPED,
           "cancelled": MailboxState.CANCELLED}
#: codes that stop a mailbox without being a failure
CANCEL_CODES = frozenset({"SYNC_CANCELLED"})


def stop_status(code: str) -> str:
    """The MailboxResult.status of a mailbox stopped with ``code``: a person's cancel, else a failure."""
    return "cancelled" if code in CANCEL_CODES else "failed"


def mailbox_state(result: Any) -> MailboxState:
    """The one state a mailbox ended the run in; a mailbox with failed items is ``partial`` but done."""
    return _STATES.get(result.status, MailboxState.FAILED)


def account_stopped(results: Iterable[Any]) -> None:
    """Book the planned writes a stopped mailbox never reached: failed by an error, cancelled by a person."""
    for r in results:
        left = r.left
        if not left:
            continue
        state = mailbox_state(r)
        if state is MailboxState.FAILED:
            r.failed += left
        elif state is MailboxState.CANCELLED:
            r.cancelled += left


def run_status(results: Sequence[Any], *, cancelled: bool) -> RunStatus:
    """The run's status from its mailboxes' states (see the module docstring)."""
    if cancelled:
        return RunStatus.CANCELLED
    states = {mailbox_state(r) for r in results}
    if states <= {MailboxState.DONE} and not any(r.status == "partial" for r in results):
        return RunStatus.OK
    if MailboxState.DONE not in states and MailboxState.FAILED in states:
        return RunStatus.FAILED
    return RunStatus.PARTIAL


def preview_scope(plan: Any) -> tuple[Any, list[str]]:
    """(the Plan, the operators in scope) of a previewed ``Plan`` or ``Preview``: its mailboxes with writes
    plus the ones its snapshot could not reach (``Preview.errors``)."""
    previewed = getattr(plan, "plan", plan)
    errors = getattr(plan, "errors", None) or {}
    return previewed, sorted(set(previewed.writes["operator_id"]) | set(errors))
