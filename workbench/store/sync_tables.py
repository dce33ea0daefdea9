"""Store writes of the sync: snapshot, links, CRM rows from Exchange, runs, journal, notifications.

Every function taking ``con`` works inside the caller's transaction (``with store.write() as con``),
so one batch's outcomes are committed together. Functions taking ``store`` open their own.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from workbench.fields import CONTACT_FIELDS, content_hash, normalise
from workbench.store import Store, contact_search, now
from workbench.store.vocabulary import FAILURE_SQL



# --- batches as relations ------------------------------------------------------
# A batch goes to DuckDB as one typed list parameter per column, zipped into rows by ``unnest``: one
# statement per table whatever the batch size. (Registering a pandas frame costs 5-13 ms per batch of 100
# rows, mostly DuckDB analysing its object columns; the lists cost well under 1 ms.)
def _cell(value: Any, sql_type: str) -> Any:
    """A value as DuckDB binds it in a ``sql_type`` list: NaN/NA as NULL, numpy scalars as Python ones."""
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if sql_type == "VARCHAR" and not isinstance(value, str):
        return str(value)
    return value


#: the Python type a column's cells usually have already, passed as they are (most cells of a batch)
_AS_IS = {"VARCHAR": str, "BOOLEAN": bool, "BIGINT": int, "INTEGER": int}


def _column(values: Sequence[Any], sql_type: str) -> list[Any]:
    same = _AS_IS.get(sql_type)
    return [v if v is None or type(v) is same else _cell(v, sql_type) for v in values]


@dataclass(frozen=True)
class _Batch:
    """Rows as a relation: ``sql`` is a subquery with one column per name, ``params`` its parameters;
    ``columns`` every column's values (``size`` rows)."""
    sql: str
    params: list[Any]
    columns: list[list[Any]]
    size: int

    @classmethod
    def of(cls, rows: Iterable[Sequence[Any]], columns: Sequence[tuple[str, str]],
           key: Sequence[str] = ()) -> "_Batch | None":
        """``columns``: (name, DuckDB type); with ``key``, the last row per key wins (as row-by-row writes
        did). None for no rows. A column with one value in every row (the run, the action, the NULLs of a
        create's ``before``...) is bound once as a scalar, not as a list: binding costs per value, and holds
        the GIL; the first column is always a list, so the relation has every row."""
        rows = list(rows)
        if key:
            at = [[n for n, _ in columns].index(k) for k in key]
            rows = list({tuple(r[i] for i in at): r for r in rows}.values())
        if not rows:
            return None
        values = [_column(v, t) for v, (_, t) in zip(zip(*rows), columns)]
        select, params = [], []
        for i, (col, (name, sql_type)) in enumerate(zip(values, columns)):
            if i and _constant(col):
                select.append(f"CAST(? AS {sql_type}) AS {name}")
                params.append(col[0])
            else:
                select.append(f"unnest(CAST(? AS {sql_type}[])) AS {name}")
                params.append(col)
        return cls(f"(SELECT {', '.join(select)})", params, values, len(rows))


def _constant(values: list[Any]) -> bool:
    first = values[0]
    return all(v is first or (type(v) is type(first) and v == first) for v in values)


def _text(*names: str) -> list[tuple[str, str]]:
    return [(n, "VARCHAR") for n in names]


def insert_rows(con, table: str, columns: Sequence[tuple[str, str]], rows: Iterable[Sequence[Any]]) -> int:
    """Append ``rows`` (one value per (name, DuckDB type) of ``columns``) to ``table`` in one statement."""
    batch = _Batch.of(rows, columns)
    if batch is None:
        return 0
    con.execute(f"INSERT INTO {table} ({', '.join(n for n, _ in columns)}) SELECT * FROM {batch.sql}", batch.params)
    return batch.size


# --- snapshot ----------------------------------------------------------------
SNAPSHOT_TYPES = [*_text("operator_id", "item_id", "change_key", "crm_id"), ("categories", "VARCHAR[]"),
                  ("private", "BOOLEAN"), *_text(*CONTACT_FIELDS, "hash")]
_OPERATOR, _ITEM_ID = ([n for n, _ in SNAPSHOT_TYPES].index(k) for k in ("operator_id", "item_id"))
SnapshotChanges = tuple[str, Iterable[Mapping[str, Any]], Sequence[str]]     # (operator_id, upserts, deleted ids)


def _snapshot_records(operator_id: str, rows: Iterable[Mapping[str, Any]]) -> list[list[Any]]:
    records = []
    for r in rows:
        rec = {"operator_id": operator_id, "item_id": r["item_id"], "change_key": r["change_key"],
               "crm_id": r.get("crm_id") or None, "categories": list(r.get("categories") or []),
               "private": bool(r.get("private", False))}
        for f in CONTACT_FIELDS:
            rec[f] = normalise(r.get(f)) or None
        rec["hash"] = content_hash(rec)
        records.append([rec[n] for n, _ in SNAPSHOT_TYPES])
    return records


def snapshot_batch(operator_id: str, rows: Iterable[Mapping[str, Any]]) -> _Batch | None:
    """Rows (item_id, change_key, crm_id, categories, private, mapped fields) as exchange_contacts rows."""
    return _Batch.of(_snapshot_records(operator_id, rows), SNAPSHOT_TYPES, ("operator_id", "item_id"))


def _insert_snapshot(con, batch: _Batch | None) -> int:
    """Plain INSERT: the caller deleted the rows' keys first (INSERT OR REPLACE cost 4-5x as much)."""
    if batch is None:
        return 0
    names = ", ".join(n for n, _ in SNAPSHOT_TYPES)
    con.execute(f"INSERT INTO exchange_contacts ({names}, seen_at) SELECT *, ? FROM {batch.sql}",
                [now(), *batch.params])
    return batch.size


def replace_snapshot(con, operator_id: str, rows: Iterable[Mapping[str, Any]]) -> int:
    """A full snapshot of one mailbox: rows not seen any more are removed."""
    batch = snapshot_batch(operator_id, rows)
    con.execute("DELETE FROM exchange_contacts WHERE operator_id = ?", [operator_id])
    return _insert_snapshot(con, batch)


def apply_snapshot_changes(con, operator_id: str, upserts: Iterable[Mapping[str, Any]] = (),
                           deleted_item_ids: Sequence[str] = ()) -> None:
    """Incremental snapshot update (SyncFolderItems or our own writes); an item both upserted and deleted
    is deleted."""
    apply_snapshot_changes_of(con, [(operator_id, upserts, deleted_item_ids)])


def apply_snapshot_changes_of(con, changes: Sequence[SnapshotChanges]) -> None:
    """``apply_snapshot_changes`` for several mailboxes in one DELETE and one INSERT (statements cost a few ms
    each whatever their size; rows cost little)."""
    records: list[list[Any]] = []
    gone: list[tuple[str, str]] = []
    for operator_id, upserts, deleted_item_ids in changes:
        deleted = set(deleted_item_ids)
        records += _snapshot_records(operator_id, [r for r in upserts if r["item_id"] not in deleted])
        gone += [(operator_id, i) for i in deleted]
    batch = _Batch.of(records, SNAPSHOT_TYPES, ("operator_id", "item_id"))
    written = zip(batch.columns[_OPERATOR], batch.columns[_ITEM_ID]) if batch is not None else []
    keys = _pairs([*gone, *written], ("operator_id", "item_id"))
    if keys is not None:
        con.execute(f"DELETE FROM exchange_contacts e USING {keys.sql} g "
                    "WHERE e.operator_id = g.operator_id AND e.item_id = g.item_id", keys.params)
    _insert_snapshot(con, batch)


# --- links and CRM rows --------------------------------------------------------
LINK_COLUMNS = ("operator_id", "contact_id", "item_id", "change_key", "crm_hash", "exchange_hash")


def upsert_links(con, rows: Sequence[Mapping[str, Any]]) -> None:
    """rows: operator_id, contact_id, item_id, change_key, crm_hash, exchange_hash."""
    batch = _Batch.of(([r["operator_id"], r["contact_id"], r["item_id"], r.get("change_key"), r["crm_hash"],
                        r["exchange_hash"]] for r in rows), _text(*LINK_COLUMNS), ("operator_id", "contact_id"))
    if batch is None:
        return
    # a contact's old link, and an older link of another contact to the same item (one item belongs to one
    # contact per mailbox), make way for the new one. Two semi-joins, not one join ON (contact OR item): an OR
    # join condition is a nested loop over links x batch (measured 5-10x slower at 20,000 links, 500 rows). The
    # semi-joins bind only the keys (the whole batch bound twice more: 13 ms a 500-link DELETE, keys 11 ms)
    keys = _Batch.of(zip(*batch.columns[:3]), _text(*LINK_COLUMNS[:3]))
    con.execute(f"DELETE FROM links WHERE (operator_id, contact_id) IN (SELECT operator_id, contact_id FROM "
                f"{keys.sql}) OR (operator_id, item_id) IN (SELECT operator_id, item_id FROM {keys.sql})",
                keys.params * 2)
    con.execute(f"INSERT INTO links ({', '.join(LINK_COLUMNS)}, synced_at) SELECT *, ? FROM {batch.sql}",
                [now(), *batch.params])


def _pairs(pairs: Sequence[tuple[str, str]], columns: tuple[str, str]) -> _Batch | None:
    return _Batch.of(pairs, _text(*columns), columns)


def drop_links(con, pairs: Sequence[tuple[str, str]]) -> None:
    """pairs: (operator_id, contact_id)."""
    gone = _pairs(pairs, ("operator_id", "contact_id"))
    if gone is not None:
        con.execute(f"DELETE FROM links l USING {gone.sql} g WHERE l.operator_id = g.operator_id "
                    "AND l.contact_id = g.contact_id", gone.params)


def upsert_crm_contacts(con, rows: Sequence[Mapping[str, Any]]) -> None:
    """Create or update CRM contacts from Exchange values (contact_id, mapped fields, private).

    An update keeps the contact's ``private`` flag (and ``deleted_at``); a new contact takes the row's.
    """
    types = [*_text("contact_id", *CONTACT_FIELDS), ("private", "BOOLEAN")]
    batch = _Batch.of(([r["contact_id"], *(r.get(f) for f in CONTACT_FIELDS), bool(r.get("private", False))]
                       for r in rows), types, ("contact_id",))
    if batch is None:
        return
    stamp = now()
    sets = ", ".join(f"{f} = n.{f}" for f in CONTACT_FIELDS)
    con.execute(f"UPDATE contacts SET {sets}, updated_at = ? FROM {batch.sql} n "
                "WHERE contacts.contact_id = n.contact_id", [stamp, *batch.params])
    con.execute(f"INSERT INTO contacts ({', '.join(n for n, _ in types)}, updated_at) SELECT n.*, ? "
                f"FROM {batch.sql} n ANTI JOIN contacts c ON c.contact_id = n.contact_id", [stamp, *batch.params])
    contact_search.refresh(con, f"SELECT n.contact_id FROM {batch.sql} n", batch.params)


def add_team(con, pairs: Sequence[tuple[str, str]]) -> None:
    """pairs: (contact_id, operator_id)."""
    new = _pairs(pairs, ("contact_id", "operator_id"))
    if new is not None:
        con.execute("INSERT OR IGNORE INTO contact_team (contact_id, operator_id, added_at) "
                    f"SELECT *, ? FROM {new.sql}", [now(), *new.params])


def remove_team(con, pairs: Sequence[tuple[str, str]]) -> None:
    """pairs: (contact_id, operator_id)."""
    gone = _pairs(pairs, ("contact_id", "operator_id"))
    if gone is not None:
        con.execute(f"DELETE FROM contact_team t USING {gone.sql} g WHERE t.contact_id = g.contact_id "
                    "AND t.operator_id = g.operator_id", gone.params)


# --- runs, journal, mailbox state, notifications ----------------------------------
def start_run(store: Store, *, trigger: str, dry_run: bool, operators: int, planned: int,
              backends: Iterable[str] = ()) -> int:
    """A new ``running`` run owned by this process; first marks the runs of dead processes ``died``.
    ``backends``: the kinds serving the run's mailboxes (stored sorted, joined by "+")."""
    from workbench.store.run_owner import Owner, reap_dead_runs
    me = Owner.current()
    kinds = "+".join(sorted(set(backends))) or None
    with store.write() as con:
        reap_dead_runs(con)
        row = con.execute("INSERT INTO sync_runs (started_at, trigger, dry_run, status, operators, planned, host, pid, "
                          "proc_start, backends) VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?) RETURNING run_id",
                          [now(), trigger, dry_run, operators, planned, me.host, me.pid, me.proc_start,
                           kinds]).fetchone()
    return int(row[0])


def finish_run(con, run_id: int, *, status: str, done: int, failed: int, requests: int, retries: int) -> None:
    con.execute("UPDATE sync_runs SET finished_at = ?, status = ?, done = ?, failed = ?, requests = ?, retries = ? "
                "WHERE run_id = ?", [now(), status, done, failed, requests, retries, run_id])


LOG_TYPES = [("run_id", "BIGINT"), ("logged_at", "TIMESTAMP"), *_text("operator_id", "contact_id", "item_id", "action",
             "outcome", "code", "detail"), ("batch_no", "INTEGER"), ("items", "INTEGER"), ("seconds", "DOUBLE")]
LOG_COLUMNS = tuple(n for n, _ in LOG_TYPES)


def _log_row(run_id: int | None, stamp: Any, entry: Mapping[str, Any]) -> list[Any]:
    entry["action"], entry["outcome"]          # noqa: B018 - required: a KeyError names the missing one
    return [run_id, entry.get("logged_at", stamp), *(entry.get(c) for c in LOG_COLUMNS[2:])]


def journal(con, run_id: int | None, entries: Iterable[Mapping[str, Any]]) -> int:
    """Append journal entries (dicts with any of LOG_COLUMNS; action and outcome required)."""
    stamp = now()
    return insert_rows(con, "sync_log", LOG_TYPES, (_log_row(run_id, stamp, e) for e in entries))


def mark_mailbox(con, operator_id: str, mailbox: str | None, *, ok: bool, code: str | None) -> None:
    """A mailbox's sync outcome: success resets the failure streak, a failure counts it up."""
    mark_mailboxes(con, [(operator_id, mailbox, ok, code)])


#: one mailbox's sync outcome: (operator_id, mailbox address, ok, catalogue code of a failure)
Mark = tuple[str, str | None, bool, str | None]
MARK_TYPES = [*_text("operator_id", "mailbox"), ("ok", "BOOLEAN"), *_text("code")]


def mark_mailboxes(con, marks: Sequence[Mark]) -> None:
    """``mark_mailbox`` for several mailboxes: one UPDATE and one INSERT of the rows missing (DuckDB's INSERT
    ... ON CONFLICT DO UPDATE took 20-35 ms for one row); a success also records the address synced."""
    batch = _Batch.of(marks, MARK_TYPES, ("operator_id",))
    if batch is None:
        return
    stamp = now()
    con.execute("UPDATE mailbox_state SET last_sync_at = CAST(? AS TIMESTAMP), "
                "last_success_at = CASE WHEN n.ok THEN CAST(? AS TIMESTAMP) ELSE last_success_at END, "
                "failure_streak = CASE WHEN n.ok THEN 0 ELSE failure_streak + 1 END, "
                "last_error_code = CASE WHEN n.ok THEN NULL ELSE n.code END, "
                "mailbox_address = CASE WHEN n.ok THEN coalesce(n.mailbox, mailbox_address) ELSE mailbox_address END "
                f"FROM {batch.sql} n WHERE mailbox_state.operator_id = n.operator_id", [stamp, stamp, *batch.params])
    con.execute("INSERT INTO mailbox_state (operator_id, mailbox_address, last_sync_at, last_success_at, "
                "failure_streak, last_error_code) SELECT n.operator_id, n.mailbox, CAST(? AS TIMESTAMP), "
                "CASE WHEN n.ok THEN CAST(? AS TIMESTAMP) END, CASE WHEN n.ok THEN 0 ELSE 1 END, "
                f"CASE WHEN n.ok THEN NULL ELSE n.code END FROM {batch.sql} n "
                "ANTI JOIN mailbox_state s ON s.operator_id = n.operator_id", [stamp, stamp, *batch.params])


def book_snapshot(con, run_id: int | None, operator_id: str, mailbox: str, rows: Sequence[Mapping[str, Any]]) -> int:
    """A mailbox's full snapshot and its journal entry, in the caller's transaction."""
    n = replace_snapshot(con, operator_id, rows)
    journal(con, run_id, [{"operator_id": operator_id, "action": "snapshot", "outcome": "ok", "items": len(rows),
                           "detail": f"{len(rows)} contacts read from {mailbox}"}])
    return n


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
