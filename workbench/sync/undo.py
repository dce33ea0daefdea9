"""`workbench sync undo RUN`: bring back what a sync run deleted, from the delete ledger (``sync.ledger``).

For each ledger row of the run not restored yet, per mailbox, in this order:

1. the contact is in Contacts already (a person restored it, or only its category was removed): it gets
   the sync category and our CRM id again (``in-contacts``);
2. it is still in Deleted Items or Recoverable Items\\Deletions (found by the CRM-id property a delete keeps):
   MoveItem back into Contacts (``moved-from-deleted-items`` / ``moved-from-recoverable-items``);
3. else (hard delete, purged): recreated from the recorded values with the same CRM id (``recreated``).

The CRM side is put back too, or the next sync would delete it again: the operator rejoins the contact's
team, a CRM-deleted contact is live again, and the link points at the item, so the next plan sees only
what changed in the CRM since (pushed as an ordinary update). Each restore is journaled (action
``restore``) in an undo run (trigger ``undo``) and marked in the ledger in the same transaction, so a
rerun restores nothing twice.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from workbench.errors import WorkbenchError
from workbench.fields import CONTACT_FIELDS, content_hash
from workbench.store import Store, now
from workbench.store import sync_tables as st

HOW_TEXT = {"in-contacts": "still in Contacts: category and CRM id set again",
            "moved-from-deleted-items": "moved back from Deleted Items",
            "moved-from-recoverable-items": "moved back from Recoverable Items",
            "recreated": "not in Deleted Items nor Recoverable Items any more: recreated from the recorded values"}


@dataclass
class Restore:
    ledger_id: int
    operator_id: str
    contact_id: str
    how: str = ""                  # HOW_TEXT keys; what a dry run would do
    item_id: str | None = None     # the item in Contacts afterwards
    code: str | None = None        # failure catalogue code when it failed
    detail: str = ""


@dataclass
class UndoResult:
    source_run: int
    undo_run: int | None           # the undo's own run (None: dry run or nothing to do)
    dry_run: bool
    restores: list[Restore] = field(default_factory=list)
    already: int = 0               # ledger rows restored by an earlier undo

    @property
    def failed(self) -> list[Restore]:
        return [r for r in self.restores if r.code]

    @property
    def mailboxes(self) -> int:
        return len({r.operator_id for r in self.restores})

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.source_run, "undo_run_id": self.undo_run, "dry_run": self.dry_run,
                "restored": 0 if self.dry_run else len(self.restores) - len(self.failed),
                "failed": len(self.failed), "already_restored": self.already, "mailboxes": self.mailboxes,
                "contacts": [r.__dict__ for r in self.restores]}


def _ledger(store: Store, run_id: int, operator: str | None) -> tuple[list[dict], int]:
    dry = store.scalar("SELECT dry_run FROM sync_runs WHERE run_id = ?", [run_id])
    if dry is None or dry:
        raise WorkbenchError("RUN_NOT_FOUND", f"run={run_id}: " + ("no such sync run" if dry is None
                                                                 else "a dry run; it deleted nothing"))
    where, params = "run_id = ?", [run_id]
    if operator is not None:
        from workbench.store.operators_table import require_known
        require_known(store, [operator])
        where, params = where + " AND operator_id = ?", params + [operator]
    df = store.df(f"SELECT * FROM delete_ledger WHERE {where} ORDER BY ledger_id", params)
    df = df.astype(object).where(df.notna(), None)
    rows = df.to_dict("records")
    pending = [r for r in rows if r["restored_at"] is None]
    return pending, len(rows) - len(pending)


def undo_run(store: Store, run_id: int, *, operator: str | None = None, dry_run: bool = False,
             backend: Any = None) -> UndoResult:
    """Restore what run ``run_id`` deleted (only ``operator``'s mailbox if given); see the module doc."""
    from workbench.store.settings_table import load
    from workbench.sync.plan import operator_mailboxes
    pending, already = _ledger(store, run_id, operator)
    result = UndoResult(run_id, None, dry_run, already=already)
    if not pending:
        return result
    settings = load(store)
    by_op: dict[str, list[dict]] = {}
    for row in pending:
        by_op.setdefault(row["operator_id"], []).append(row)
    with store.write() as con:
        boxes = operator_mailboxes(con, sorted(by_op))
    mailbox = dict(zip(boxes["operator_id"], boxes["mailbox"]))
    if not dry_run:
        result.undo_run = st.start_run(store, trigger="undo", dry_run=False, operators=len(by_op), planned=len(pending))
    own_backend = backend is None
    if own_backend:
        from workbench.backends import open_backend
        backend = open_backend(settings)
    try:
        for op, rows in by_op.items():
            result.restores += _mailbox(store, backend, settings, result, op, mailbox.get(op), rows)
    finally:
        if own_backend:
            backend.close()
        if result.undo_run is not None:
            with store.write() as con:
                done = len(result.restores) - len(result.failed)
                st.finish_run(con, result.undo_run, status="ok" if not result.failed else "partial" if done else
                              "failed", done=done, failed=len(result.failed), requests=0, retries=0)
    return result


def _mailbox(store: Store, backend: Any, settings: Any, result: UndoResult, op: str, address: str | None,
             rows: list[dict]) -> list[Restore]:
    """Restore one mailbox's ledger rows; book them in one transaction (unless a dry run)."""
    todo = [Restore(int(r["ledger_id"]), op, r["contact_id"]) for r in rows]
    if address is None:
        for t in todo:
            t.code, t.detail = "OPERATOR_SYNC_OFF", f"{op}: contact sync is off; switch it on to restore"
        _book(store, result, rows, todo, {})
        return todo
    try:
        items = _locate_and_restore(backend.open(address), settings, rows, todo, dry_run=result.dry_run)
    except WorkbenchError as err:
        for t in todo:
            t.code, t.detail = err.code, err.detail
        items = {}
    _book(store, result, rows, todo, items)
    return todo


def _locate_and_restore(box: Any, settings: Any, rows: list[dict], todo: list[Restore], *,
                        dry_run: bool) -> dict[int, dict]:
    """Find each contact (Contacts, Deleted Items, Recoverable Items), then move, stamp or recreate it.
    Returns {ledger_id: the restored item's row} for the snapshot and the link."""
    bs = int(settings.batch_size)
    ids = [r["contact_id"] for r in rows]
    here = box.find_by_crm_ids(ids, bs)
    gone = box.find_deleted([i for i in ids if i not in here], bs)
    items: dict[int, dict] = {}
    stamp, move, create = [], [], []
    for r, t in zip(rows, todo):
        if r["contact_id"] in here:
            t.how = "in-contacts"
            stamp.append((r, t, here[r["contact_id"]][0]))
        elif r["contact_id"] in gone:
            found = gone[r["contact_id"]]
            t.how = "moved-from-" + found.place
            move.append((r, t, found.row))
        else:
            t.how = "recreated"
            create.append((r, t, {"item_id": None, "crm_id": r["contact_id"], **_values(r)}))
    if dry_run:
        return items
    category = settings.sync_category

    def cats(found: dict) -> list[str]:
        return list(dict.fromkeys(list(found.get("categories") or []) + [category]))
    refs = box.update([{"item_id": f["item_id"], "change_key": None, "fields": None,
                                          "crm_id": r["contact_id"], "categories": cats(f)} for r, _, f in stamp], bs)
    refs += box.restore([f["item_id"] for _, _, f in move], bs)
    refs += box.create([{"fields": {k: f[k] for k in CONTACT_FIELDS}, "crm_id": r["contact_id"],
                                           "categories": cats(f), "private": bool(f.get("private"))}
                                          for r, _, f in create], bs)
    for (r, t, found), ref in zip(stamp + move + create, refs):
        if isinstance(ref, WorkbenchError) or ref is None or not getattr(ref, "item_id", None):
            err = ref if isinstance(ref, WorkbenchError) else WorkbenchError("EWS_PROTOCOL", "no new item id")
            t.code, t.detail = err.code, err.detail
            continue
        t.item_id = ref.item_id
        items[t.ledger_id] = {**found, "item_id": ref.item_id, "change_key": ref.change_key,
                              "crm_id": r["contact_id"], "categories": cats(found)}
    return items


def _values(row: dict) -> dict[str, Any]:
    return {**{f: row[f] for f in CONTACT_FIELDS}, "categories": list(row["categories"] or []),
            "private": bool(row["private"])}


def _book(store: Store, result: UndoResult, rows: list[dict], todo: list[Restore], items: dict[int, dict]) -> None:
    """Ledger, link, team, CRM contact, snapshot row and journal of one mailbox's restores, in one transaction."""
    if result.dry_run:
        return
    stamp = now()
    entries, links, snap, team = [], [], [], []
    for r, t in zip(rows, todo):
        where = r["went_to"] or "deleted in Exchange"
        if t.code:
            entries.append({"operator_id": t.operator_id, "contact_id": t.contact_id, "item_id": r["item_id"],
                            "action": "restore", "outcome": "failed", "code": t.code,
                            "detail": f"undo of run {result.source_run} ({r['action']}, {where}): {t.detail}"})
            continue
        item = items[t.ledger_id]
        h = content_hash(item)
        links.append({"operator_id": t.operator_id, "contact_id": t.contact_id, "item_id": item["item_id"],
                      "change_key": item["change_key"], "crm_hash": h, "exchange_hash": h})
        snap.append(item)
        team.append((t.contact_id, t.operator_id))
        t.detail = HOW_TEXT[t.how]
        entries.append({"operator_id": t.operator_id, "contact_id": t.contact_id, "item_id": item["item_id"],
                        "action": "restore", "outcome": "ok",
                        "detail": f"undo of run {result.source_run} ({r['action']}: {r['reason'] or ''}; went to "
                                  f"{where}): {t.detail}"})
    with store.write() as con:
        st.add_team(con, team)
        if team:
            con.executemany("UPDATE contacts SET deleted_at = NULL, updated_at = ? WHERE contact_id = ? "
                            "AND deleted_at IS NOT NULL", [[stamp, c] for c, _ in team])
        st.upsert_links(con, links)
        if snap:
            st.apply_snapshot_changes(con, todo[0].operator_id, snap)
        con.executemany("UPDATE delete_ledger SET restored_at = ?, restore_run_id = ?, restored_item_id = ?, "
                        "restored_how = ? WHERE ledger_id = ?",
                        [[stamp, result.undo_run, t.item_id, t.how, t.ledger_id] for t in todo if not t.code])
        st.journal(con, result.undo_run, entries)


def undo_summary(result: UndoResult) -> str:
    """One line for people: what was (or would be) restored, in how many mailboxes."""
    n = len(result.restores)
    if not n:
        return (f"run {result.source_run}: nothing to undo" +
                (f" ({result.already} contact(s) restored already)" if result.already else ""))
    verb = "would restore" if result.dry_run else "restored"
    ok = n if result.dry_run else n - len(result.failed)
    text = f"run {result.source_run}: {verb} {ok} contact(s) in {result.mailboxes} mailbox(es)"
    return text + (f", {len(result.failed)} failed" if result.failed else "")

