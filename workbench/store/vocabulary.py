"""The journal's vocabularies and the one definition of "a failure", shared by every reader and writer.

``Outcome`` is a journal entry's outcome, ``RunStatus`` a run's status, ``MailboxState`` how one
operator's mailbox ended a run, ``Verification`` an operator's verification state. A person's cancel is
``cancelled``: its own outcome, never a failure. A deadline, a permanent fault or an item error is
``failed`` (with its catalogue code).
"""
from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    PLANNED = "planned"
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    RETRIED = "retried"


class RunStatus(StrEnum):
    RUNNING = "running"
    OK = "ok"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DIED = "died"


class MailboxState(StrEnum):
    """How one operator in scope ended a run: exactly one of these (``workbench.sync.status``)."""
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class Verification(StrEnum):
    VERIFIED = "verified"
    FAILING = "failing"
    UNVERIFIED = "unverified"


#: a journal entry that needs attention. Journals written before the cancel/failure split recorded a
#: deadline stop (SYNC_DEADLINE) and the mass-deletion guard as ``cancelled``: those still count, a
#: person's cancel (SYNC_CANCELLED) never does. Batch rows only sum their items' outcomes.
_FAILURE = ("({a}outcome = 'failed' OR ({a}outcome = 'cancelled' AND coalesce({a}code, '') <> 'SYNC_CANCELLED')) "
            "AND {a}action <> 'batch'")


def failure_sql(alias: str = "") -> str:
    """The SQL predicate "this journal entry is a failure", columns qualified by ``alias`` if given."""
    return "(" + _FAILURE.format(a=f"{alias}." if alias else "") + ")"


FAILURE_SQL = failure_sql()
#: a mailbox-level skip that a person must act on (the guard); PLAN_STALE skips only say "rerun"
ATTENTION_SQL = f"({FAILURE_SQL} OR (action = 'mailbox' AND outcome = 'skipped' AND code = 'MASS_DELETE'))"
