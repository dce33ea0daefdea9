"""The journal phase: what a batch changes in the store (``Outcome``), its journal entries, and the statements
that book them (``commit_all``, in one transaction of the run's writer, ``booking.py``, for every batch waiting);
and the journal entries of a plan's decisions."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from workbench.errors import WorkbenchError
from workbench.store import sync_tables as st
from workbench.sync import ledger
from workbench.sync.plan import FIELD_AT, Plan


@dataclass
class Outcome:
    """What one batch changes in the store; booked in one transaction (with other batches waiting then)."""
    links: list[dict] = field(default_factory=list)
    unlinks: list[tuple[str, str]] = field(default_factory=list)
    crm: list[dict] = field(default_factory=list)
    team_add: list[tuple[str, str]] = field(default_factory=list)
    team_remove: list[tuple[str, str]] = field(default_factory=list)
    snap: list[dict] = field(default_factory=list)
    snap_delete: list[str] = field(default_factory=list)
    log: list[dict] = field(default_factory=list)
    marks: list[st.Mark] = field(default_factory=list)     # mailboxes whose sync ended (mailbox_state)
    ok: int = 0
    failed: int = 0
    stale: int = 0
    touched_crm: list[str] = field(default_factory=list)
    booked: Any = None               # contact changes and delete ledger rows (workbench.sync.ledger)

    def done(self, row: Any) -> None:
        self.ok += 1
        self.log.append(entry(row, "ok"))

    def fail(self, row: Any, err: WorkbenchError) -> None:
        self.failed += 1
        self.log.append(entry(row, "failed", err.code, err.detail))


def entry(row: Any, outcome: str, code: str | None = None, detail: str | None = None) -> dict:
    """An action's journal entry; ``_action_id``/``_row`` let ``batch_entries`` fill in the changed fields."""
    return {"operator_id": row.operator_id, "contact_id": row.contact_id, "item_id": row.item_id,
            "action": row.action, "outcome": outcome, "code": code, "detail": detail,
            "_action_id": row.action_id, "_row": row}


def _summary(row: Any, changes: list[tuple]) -> str:
    text = row.reason or ""
    if changes:
        fields = ", ".join(c[FIELD_AT] for c in changes)
        text = f"{text}; fields: {fields}" if text else f"fields: {fields}"
    return text


def batch_entries(out: Outcome, changes: dict[int, list[tuple]], *, operator_id: str, kind: str, batch_no: int,
                  items: int, seconds: float, pass_name: str = "") -> None:
    """Finish a batch's journal: the batch number and changed fields on each entry, and the batch's own row."""
    for e in out.log:
        e.setdefault("batch_no", batch_no)
        aid = e.pop("_action_id", None)
        if aid is not None and e["outcome"] == "ok":
            e["detail"] = _summary(e["_row"], changes.get(aid, []))
        e.pop("_row", None)
    out.log.append({"operator_id": operator_id, "action": "batch", "outcome": "ok" if not out.failed
                    else "failed", "batch_no": batch_no, "items": items, "seconds": seconds,
                    "detail": f"{pass_name}{kind}: {out.ok} ok, {out.failed} failed"
                              + (f", {out.stale} changed since the plan" if out.stale else "")})


def commit_all(con: Any, run_id: int | None, outcomes: Sequence[tuple[str, Outcome]]) -> None:
    """Several batches' bookkeeping in the caller's transaction: one statement per table for all of them, in
    submission order, so a later batch's row for a key wins as it would in a
    transaction of its own. Merging keeps each batch's meaning because a mailbox's batches waiting at once are
    all of one kind (a kind starts when the previous one is booked) and no kind both links and unlinks."""
    def every(name: str) -> list[Any]:
        return [x for _, out in outcomes for x in getattr(out, name)]

    st.upsert_crm_contacts(con, every("crm"))
    st.add_team(con, every("team_add"))
    st.remove_team(con, every("team_remove"))
    st.drop_links(con, every("unlinks"))
    st.upsert_links(con, every("links"))
    mailboxes = dict.fromkeys(op for op, _ in outcomes)
    st.apply_snapshot_changes_of(con, [(op, [r for o, out in outcomes if o == op for r in out.snap],
                                         [i for o, out in outcomes if o == op for i in out.snap_delete])
                                       for op in mailboxes])
    st.journal(con, run_id, every("log"))
    st.mark_mailboxes(con, every("marks"))
    booked = [out.booked for _, out in outcomes if out.booked is not None]
    ledger.record(con, run_id, ledger.Booked([c for b in booked for c in b.changes],
                                             [d for b in booked for d in b.deletes]))


def plan_entries(plan: Plan, dry_run: bool, *, preview: bool = False) -> list[dict]:
    """One journal entry per decision of ``plan`` (planned, or skipped for skips and manual conflicts)."""
    entries = []
    for row in plan.actions.itertuples(index=False):
        outcome = "skipped" if row.action in ("skip", "conflict") else "planned"
        entries.append({"operator_id": row.operator_id, "contact_id": row.contact_id, "item_id": row.item_id,
                        "action": row.action, "outcome": outcome, "code": row.code,
                        "detail": f"{'dry run: ' if dry_run else ''}{'previewed: ' if preview else ''}{row.reason}"
                                  + ("; conflict, winner " + str(row.winner) if row.conflict else "")})
    return entries
