"""Store writes of the sync: snapshot, links, CRM rows from Exchange, runs, journal, notifications.

Every function taking ``con`` works inside the caller's transaction (``with store.write() as con``),
so one batch's outcomes are committed together. Functions taking ``store`` open their own.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Mapping, Sequence

import pandas as pd

from workbench.fields import CONTACT_FIELDS, content_hash, normalise
from workbench.store import Store, contact_search, now
from workbench.store.vocabulary import FAILURE_SQL

SNAPSHOT_COLUMNS = ("operator_id", "item_id", "change_key", "crm_id", "categories", "private",
                    *CONTACT_FIELDS, "hash", "seen_at")
LOG_COLUMNS = ("run_id", "logged_at", "operator_id", "contact_id", "item_id", "action", "outcome", "code",
               "detail", "batch_no", "items", "seconds")


# --- batches as relations ------------------------------------------------------
@contextmanager
def _relation(con, name: str, frame: pd.DataFrame) -> Iterator[str]:
    """``frame`` registered on ``con`` as ``name`` for one set-based statement (the batch as a relation)."""
    con.register(name, frame)
    try:
        yield name
    finally:
        con.unregister(name)


def _frame(rows: Iterable[Sequence[Any]], columns: Sequence[str], key: Sequence[str] = ()) -> pd.DataFrame:
    """Rows as an all-object frame; with ``key``, the last row per key wins (as row-by-row writes did)."""
    frame = pd.DataFrame(list(rows), columns=list(columns), dtype=object)
    return frame.drop_duplicates(list(key), keep="last") if key else frame


def _pairs(pairs: Sequence[tuple[str, str]], columns: tuple[str, str]) -> pd.DataFrame:
    return _frame(pairs, columns, columns)


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
            rec[f] = normalise(r.get(f)) or None
        rec["hash"] = content_hash(rec)
        rec["seen_at"] = stamp
        records.append(rec)
    frame = pd.DataFrame.from_records(records, columns=list(SNAPSHOT_COLUMNS))
    return frame.drop_duplicates(["operator_id", "item_id"], keep="last")


def _insert_snapshot(con, frame: pd.DataFrame) -> None:
    if frame.empty:
        return
    cols = ", ".join(SNAPSHOT_COLUMNS)
    with _relation(con, "_incoming_snapshot", frame) as rel:
        con.execute(f"INSERT OR REPLACE INTO exchange_contacts ({cols}) "
                    f"SELECT operator_id, item_id, change_key, crm_id, CAST(categories AS VARCHAR[]), private, "
                    f"{', '.join(f'CAST({f} AS VARCHAR)' for f in CONTACT_FIELDS)}, hash, seen_at FROM {rel}")


def replace_snapshot(con, operator_id: str, rows: Iterable[Mapping[str, Any]]) -> int:
    """A full snapshot of one mailbox: rows not seen any more are removed."""
    frame = snapshot_frame(operator_id, rows)
    con.execute("DELETE FROM exchange_contacts WHERE operator_id = ?", [operator_id])
    _insert_snapshot(con, frame)
    return len(frame)


def apply_snapshot_changes(con, operator_id: str, upserts: Iterable[Mapping[str, Any]] = (),
                           deleted_item_ids: Sequence[str] = ()) -> None:
    """Incremental snapshot update (SyncFolderItems or our own writes)."""
    _insert_snapshot(con, snapshot_frame(operator_id, upserts))
    if len(deleted_item_ids):
        with _relation(con, "_gone_items", _frame(((i,) for i in deleted_item_ids), ("item_id",))) as rel:
            con.execute(f"DELETE FROM exchange_contacts e USING {rel} g "
                        "WHERE e.operator_id = ? AND e.item_id = CAST(g.item_id AS VARCHAR)", [operator_id])


# --- links and CRM rows --------------------------------------------------------
LINK_COLUMNS = ("operator_id", "contact_id", "item_id", "change_key", "crm_hash", "exchange_hash")


def upsert_links(con, rows: Sequence[Mapping[str, Any]]) -> None:
    """rows: operator_id, contact_id, item_id, change_key, crm_hash, exchange_hash."""
    if not rows:
        return
    frame = _frame(([r["operator_id"], r["contact_id"], r["item_id"], r.get("change_key"), r["crm_hash"],
                     r["exchange_hash"]] for r in rows), LINK_COLUMNS, ("operator_id", "contact_id"))
    cast = ", ".join(f"CAST({c} AS VARCHAR)" for c in LINK_COLUMNS)
    with _relation(con, "_incoming_links", frame) as rel:
        # one item belongs to one contact per mailbox: drop an older link to the same item
        con.execute(f"DELETE FROM links l USING {rel} n WHERE l.operator_id = CAST(n.operator_id AS VARCHAR) "
                    "AND l.item_id = CAST(n.item_id AS VARCHAR) AND l.contact_id <> CAST(n.contact_id AS VARCHAR)")
        con.execute(f"INSERT OR REPLACE INTO links ({', '.join(LINK_COLUMNS)}, synced_at) "
                    f"SELECT {cast}, ? FROM {rel}", [now()])


def drop_links(con, pairs: Sequence[tuple[str, str]]) -> None:
    """pairs: (operator_id, contact_id)."""
    if pairs:
        with _relation(con, "_gone_links", _pairs(pairs, ("operator_id", "contact_id"))) as rel:
            con.execute(f"DELETE FROM links l USING {rel} g WHERE l.operator_id = CAST(g.operator_id AS VARCHAR) "
                        "AND l.contact_id = CAST(g.contact_id AS VARCHAR)")


def upsert_crm_contacts(con, rows: Sequence[Mapping[str, Any]]) -> None:
    """Create or update CRM contacts from Exchange values (contact_id, mapped fields, private).

    An update keeps the contact's ``private`` flag (and ``deleted_at``); a new contact takes the row's.
    """
    if not rows:
        return
    cols = ("contact_id", *CONTACT_FIELDS, "private")
    frame = _frame(([r["contact_id"], *(r.get(f) for f in CONTACT_FIELDS), bool(r.get("private", False))]
                    for r in rows), cols, ("contact_id",))
    stamp = now()
    values = ", ".join(f"CAST(n.{c} AS VARCHAR)" for c in ("contact_id", *CONTACT_FIELDS))
    with _relation(con, "_incoming_contacts", frame) as rel:
        sets = ", ".join(f"{f} = CAST(n.{f} AS VARCHAR)" for f in CONTACT_FIELDS)
        con.execute(f"UPDATE contacts SET {sets}, updated_at = ? FROM {rel} n "
                    "WHERE contacts.contact_id = CAST(n.contact_id AS VARCHAR)", [stamp])
        con.execute(f"INSERT INTO contacts ({', '.join(cols)}, updated_at) "
                    f"SELECT {values}, CAST(n.private AS BOOLEAN), ? FROM {rel} n "
                    "ANTI JOIN contacts c ON c.contact_id = CAST(n.contact_id AS VARCHAR)", [stamp])
        contact_search.refresh(con, f"SELECT CAST(contact_id AS VARCHAR) FROM {rel}")


def add_team(con, pairs: Sequence[tuple[str, str]]) -> None:
    """pairs: (contact_id, operator_id)."""
    if pairs:
        with _relation(con, "_new_team", _pairs(pairs, ("contact_id", "operator_id"))) as rel:
            con.execute("INSERT OR IGNORE INTO contact_team (contact_id, operator_id, added_at) "
                        f"SELECT CAST(contact_id AS VARCHAR), CAST(operator_id AS VARCHAR), ? FROM {rel}", [now()])


def remove_team(con, pairs: Sequence[tuple[str, str]]) -> None:
    """pairs: (contact_id, operator_id)."""
    if pairs:
        with _relation(con, "_gone_team", _pairs(pairs, ("contact_id", "operator_id"))) as rel:
            con.execute(f"DELETE FROM contact_team t USING {rel} g WHERE t.contact_id = CAST(g.contact_id AS VARCHAR) "
                        "AND t.operator_id = CAST(g.operator_id AS VARCHAR)")


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
        with _relation(con, "_incoming_log", pd.DataFrame(rows, columns=list(LOG_COLUMNS))) as rel:
            con.execute(f"INSERT INTO sync_log ({', '.join(LOG_COLUMNS)}) SELECT "
                        "CAST(run_id AS BIGINT), CAST(logged_at AS TIMESTAMP), operator_id, contact_id, item_id, "
                        "action, outcome, code, detail, CAST(batch_no AS INTEGER), CAST(items AS INTEGER), "
                        f"CAST(seconds AS DOUBLE) FROM {rel}")
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
        where.append(FAILURE_SQL)
    sql = "SELECT * FROM sync_log" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY log_id"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return store.df(sql, params)


def run_row(store: Store, run_id: int | None = None) -> dict | None:
    """One sync run (the latest when ``run_id`` is None) as a dict, or None."""
    sql = "SELECT * FROM sync_runs " + ("WHERE run_id = ?" if run_id is not None else "ORDER BY run_id DESC LIMIT 1")
    df = store.df(sql, [run_id] if run_id is not None else [])
    return None if df.empty else df.iloc[0].to_dict()
