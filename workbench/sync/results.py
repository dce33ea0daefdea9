"""What a run reports: per-mailbox results, the run's result and the progress events it emits."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from workbench.sync.plan import Plan


class Phase(StrEnum):
    """What a progress event counts. SNAPSHOT: a mailbox done while the run plans (``items_done`` /
    ``items_total`` count mailboxes; no batches yet), from the mailbox workers; EXECUTE: a batch booked (items
    of the run's writes), from the run's store writer."""
    SNAPSHOT = "snapshot"
    EXECUTE = "execute"


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a run, for a progress bar (``Phase``); the callback is called from the run's threads, one
    call at a time."""
    operator_id: str | None
    batch_no: int
    batches_total: int
    items_done: int
    items_total: int
    items_per_second: float
    message: str = ""
    phase: Phase = Phase.EXECUTE


@dataclass
class MailboxResult:
    operator_id: str
    mailbox: str
    status: str = "pending"        # ok, partial, failed, cancelled, guarded, dry-run, skipped
    code: str | None = None
    detail: str = ""
    planned: int = 0               # write actions planned
    done: int = 0
    failed: int = 0
    skipped: int = 0
    stale: int = 0                 # planned writes not done: a side changed since the plan (PLAN_STALE)
    cancelled: int = 0             # planned writes a person's cancel stopped (workbench.sync.status)
    notified: bool = False
    backend: str = ""              # ews | graph: what served the mailbox in this run

    @property
    def left(self) -> int:
        return max(0, self.planned - self.done - self.failed - self.stale - self.cancelled)

    def settle(self) -> None:
        """A mailbox that executed: ok, or partial when something failed or changed since the plan."""
        self.status = "ok" if not (self.failed or self.stale) else "partial"
        if self.stale and not self.failed and self.code is None:
            self.code = "PLAN_STALE"
            self.detail = f"{self.stale} planned write(s) changed since the plan and were not applied; rerun"


@dataclass
class RunResult:
    run_id: int
    status: str
    dry_run: bool
    plan: Plan | None
    mailboxes: list[MailboxResult] = field(default_factory=list)
    requests: int = 0
    retries: int = 0
    seconds: float = 0.0
    touched_crm: set[str] = field(default_factory=set)   # CRM contact ids this run wrote from Exchange

    @property
    def planned(self) -> int:
        return sum(m.planned for m in self.mailboxes)

    @property
    def done(self) -> int:
        return sum(m.done for m in self.mailboxes)

    @property
    def failed(self) -> int:
        return sum(m.failed for m in self.mailboxes)

    @property
    def stale(self) -> int:
        return sum(m.stale for m in self.mailboxes)

    @property
    def cancelled(self) -> int:
        return sum(m.cancelled for m in self.mailboxes)

    def mailbox(self, operator_id: str) -> MailboxResult:
        return next(m for m in self.mailboxes if m.operator_id == operator_id)

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "status": self.status, "dry_run": self.dry_run, "planned": self.planned,
                "done": self.done, "failed": self.failed, "stale": self.stale, "cancelled": self.cancelled, "requests": self.requests, "retries": self.retries,
                "seconds": round(self.seconds, 3),
                "mailboxes": [{**asdict(m), "left": m.left} for m in self.mailboxes]}

