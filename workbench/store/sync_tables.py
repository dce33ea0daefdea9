"""Store writes of the sync: snapshot, links, CRM rows from Exchange, runs, journal, notifications.

Every function taking ``con`` works inside the caller's transaction (``with store.write() as con``),
so one batch's outcomes are committed together. Functions taking ``store`` open their own.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from workbench.fields import CONTACT_FIELDS, content_hash
from workbench.store import Store, now
from workbench.store.operators_table import FAILED_OUTCOMES_SQL

SNAPSHOT_COLUMNS = ("operator_id", "item_id", "change_key", "crm_id", "categories", "private",
                    *CONTACT_FIELDS, "hash", "seen_at")
LOG_COLUMNS = ("run_id", "logged_at", "operator_id", "contact_id", "item_id", "action", "outcome", "code",
               "detail", "batch_no", "items", "seconds")


# --- snapshot ----------------------------------------------------------------
def snapshot_frame(operator_id: str, rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows (item_id, change_key, crm_id, categories, private, mapped fields) as an exchange_contacts frame."""
    stamp = now()
    records = []
    for r in rows:
        rec = {"operator_id": operator_id, "item_id": r["item_id"], "change_key": r["change_key"],
               "crm_id": r.get("crm_id") or None, "categories": list(r.get("categories") or []),
               "private": bool(r.get("private", False))}
        for f in CONTACT_FIELDS:
            v = r.get(f)
            rec[f] = None if v is None or str(v).strip() == "" else str(v).strip()
        rec["hash"] = content_hash(rec)
        rec["seen_at"] = stamp
        records.append(rec)
    frame = pd.DataFrame.from_records(records, columns=list(SNAPSHOT_COLUMNS))
    return frame


def _insert_snapshot(con, frame: pd.DataFrame) -> None:
    if frame.empty:
        return
    cols = ", ".join(SNAPSHOT_COLUMNS)
    con.register("_incoming_snapshot", frame)
    try:
        con.execute(f"INSERT OR REPLACE INTO exchange_contacts ({cols}) "
                    f"SELECT operator_id, item_id, change_key, crm_id, CAST(categories AS VARCHAR[]), private, "
                    f"{', '.join(CONTACT_FIELDS)}, hash, seen_at FROM _incoming_snapshot")
    finally:
        con.unregister("_incoming_snapshot")


def replace_snapshot(con, operator_id: str, rows: Iterable[Mapping[str, Any]]) -> int:
    """A full snapshot of one mailbox: rows not seen any more are removed."""
    frame = snapshot_frame(operator_id, rows)
    con.execute("DELETE FROM exchange_contacts WHERE operator_id = ?", [operator_id])
    _insert_snapshot(con, frame)
    return len(frame)


def apply_snapshot_changes(con, operator_id: str, upserts: Iterable[Mapping[str, Any]] = (),
                           deleted_item_ids: Sequence[str] = ()) -> None:
    """Incremental snapshot update (SyncFolderItems or our own writes)."""
    frame = snapshot_frame(operator_id, upserts)
    if len(frame):
        _insert_snapshot(con, frame)
    if deleted_item_ids:
        con.executemany("DELETE FROM exchange_contacts WHERE operator_id = ? AND item_id = ?",
                        [[operator_id, i] for i in deleted_item_ids])


# --- links and CRM rows --------------------------------------------------------
def upsert_links(con, rows: Sequence[Mapping[str, Any]]) -> None:
    """rows: operator_id, contact_id, item_id, change_key, crm_hash, exchange_hash."""
    if not rows:
        return
    stamp = now()
    # one item belongs to one contact per mailbox: drop an older link to the same item
    con.executemany("DELETE FROM links WHERE operator_id = ? AND item_id = ? AND contact_id <> ?",
                    [[r["operator_id"], r["item_id"], r["contact_id"]] for r in rows])
    con.executemany("INSERT OR REPLACE INTO links (operator_id, contact_id, item_id, change_key, crm_hash, "
                    "exchange_hash, synced_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [[r["operator_id"], r["contact_id"], r["item_id"], r.get("change_key"), r["crm_hash"],
                      r["exchange_hash"], stamp] for r in rows])


def drop_links(con, pairs: Sequence[tuple[str, str]]) -> None:
    """pairs: (operator_id, contact_id)."""
    if pairs:
        con.executemany("DELETE FROM links WHERE operator_id = ? AND contact_id = ?", [list(p) for p in pairs])


def upsert_crm_contacts(con, rows: Sequence[Mapping[str, Any]]) -> None:
    """Create or update CRM contacts from Exchange values (contact_id, mapped fields, private)."""
    if not rows:
        return
    stamp = now()
    cols = ("contact_id",) + CONTACT_FIELDS
    for r in rows:
        values = [r["contact_id"]] + [r.get(f) for f in CONTACT_FIELDS]
        exists = con.execute("SELECT 1 FROM contacts WHERE contact_id = ?", [r["contact_id"]]).fetchone()
        if exists:
            sets = ", ".join(f"{f} = ?" for f in CONTACT_FIELDS)
            con.execute(f"UPDATE contacts SET {sets}, updated_at = ? WHERE contact_id = ?",
                        values[1:] + [stamp, r["contact_id"]])
        else:
            con.execute(f"INSERT INTO contacts ({', '.join(cols)}, private, updated_at) VALUES "
                        f"({', '.join('?' for _ in cols)}, ?, ?)", values + [bool(r.get("private", False)), stamp])


def add_team(con, pairs: Sequence[tuple[str, str]]) -> None:
    """pairs: (contact_id, operator_id)."""
    if pairs:
        stamp = now()
        con.executemany("INSERT OR IGNORE INTO contact_team (contact_id, operator_id, added_at) VALUES (?, ?, ?)",
                        [[c, o, stamp] for c, o in pairs])


def remove_team(con, pairs: Sequence[tuple[str, str]]) -> None:
    """pairs: (contact_id, operator_id)."""
    if pairs:
        con.executemany("DELETE FROM contact_team WHERE contact_id = ? AND operator_id = ?", [list(p) for p in pairs])


# --- runs, journal, mailbox state, notifications ----------------------------------
def start_run(store: Store, *, trigger: str, dry_run: bool, operators: int, planned: int) -> int:
    """A new ``running`` run owned by this process; first marks the runs of dead processes ``died``."""
    from workbench.store.run_owner import Owner, reap_dead_runs
    me = Owner.current()
    with store.write() as con:
        reap_dead_runs(con)
        row = con.execute("INSERT INTO sync_runs (started_at, trigger, dry_run, status, operators, planned, host, pid, "
                          "proc_start) VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?) RETURNING run_id",
                          [now(), trigger, dry_run, operators, planned, me.host, me.pid, me.proc_start]).fetchone()
    return int(row[0])


def finish_run(con, run_id: int, *, status: str, done: int, failed: int, requests: int, retries: int) -> None:
    con.execute("UPDATE sync_runs SET finished_at = ?, status = ?, done = ?, failed = ?, requests = ?, retries = ? "
                "WHERE run_id = ?", [now(), status, done, failed, requests, retries, run_id])


def journal(con, run_id: int | None, entries: Iterable[Mapping[str, Any]]) -> int:
    """Append journal entries (dicts with any of LOG_COLUMNS; action and outcome required)."""
    stamp = now()
    rows = []
    for e in entries:
        rows.append([run_id, e.get("logged_at", stamp), e.get("operator_id"), e.get("contact_id"), e.get("item_id"),
                     e["action"], e["outcome"], e.get("code"), e.get("detail"), e.get("batch_no"), e.get("items"),
                     e.get("seconds")])
    if rows:
        frame = pd.DataFrame(rows, columns=list(LOG_COLUMNS))
        con.register("_incoming_log", frame)
        try:
            con.execute(f"INSERT INTO sync_log ({', '.join(LOG_COLUMNS)}) SELECT "
                        "CAST(run_id AS BIGINT), CAST(logged_at AS TIMESTAMP), operator_id, contact_id, item_id, "
                        "action, outcome, code, detail, CAST(batch_no AS INTEGER), CAST(items AS INTEGER), "
                        "CAST(seconds AS DOUBLE) FROM _incoming_log")
        finally:
            con.unregister("_incoming_log")
    return len(rows)


def mark_mailbox(con, operator_id: str, mailbox: str | None, *, ok: bool, code: str | None) -> None:
    stamp = now()
    con.execute("INSERT OR IGNORE INTO mailbox_state (operator_id, mailbox_address) VALUES (?, ?)",
                [operator_id, mailbox])
    if ok:
        con.execute("UPDATE mailbox_state SET last_sync_at = ?, last_success_at = ?, failure_streak = 0, "
                    "last_error_code = NULL, mailbox_address = coalesce(?, mailbox_address) WHERE operator_id = ?",
                    [stamp, stamp, mailbox, operator_id])
    else:
        con.execute("UPDATE mailbox_state SET last_sync_at = ?, failure_streak = failure_streak + 1, "
                    "last_error_code = ? WHERE operator_id = ?", [stamp, code, operator_id])


def record_notification(con, *, run_id: int | None, operator_id: str | None, recipients: str, subject: str,
                        code: str | None, body: str, status: str) -> None:
    con.execute("INSERT INTO notifications (sent_at, run_id, operator_id, recipients, subject, code, body, status) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [now(), run_id, operator_id, recipients, subject, code, body, status])


# --- reads ------------------------------------------------------------------------
def log_df(store: Store, *, run_id: int | None = None, operator_id: str | None = None, failed: bool = False,
           limit: int | None = None) -> pd.DataFrame:
    where, params = [], []
    if run_id is not None:
        where.append("run_id = ?")
        params.append(run_id)
    if operator_id is not None:
        where.append("operator_id = ?")
        params.append(operator_id)
    if failed:
        where.append(FAILED_OUTCOMES_SQL)
    sql = "SELECT * FROM sync_log" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY log_id"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return store.df(sql, params)


def run_row(store: Store, run_id: int | None = None) -> dict | None:
    """One sync run (the latest when ``run_id`` is None) as a dict, or None."""
    sql = "SELECT * FROM sync_runs " + ("WHERE run_id = ?" if run_id is not None else "ORDER BY run_id DESC LIMIT 1")
    df = store.df(sql, [run_id] if run_id is not None else [])
    return None if df.empty else df.iloc[0].to_dict()
