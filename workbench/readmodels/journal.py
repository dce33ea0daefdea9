"""Runs and the journal: the Log and Sync screens' pages and the health notebook's frames.

Journal conventions (schema migration 1): ``sync_runs`` one row per run; ``sync_log`` entries whose
``FAILURE_SQL`` holds are failures (``code`` from the failure catalogue; a person's cancel is its own
outcome, never one); ``outcome = 'retried'`` (or ``action = 'retry'``) are retries (``seconds`` =
back-off waited); ``action = 'batch'`` rows are one EWS batch each (``items``, ``seconds``,
``batch_no``); a mailbox an error stopped (an ``action = 'mailbox'`` row, failed) counts every planned
write it did not reach as failed (``workbench.sync.status``); ``notifications`` are failure e-mails.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

from workbench.errors import CATALOGUE, WorkbenchError
from workbench.readmodels.catalogue import with_catalogue
from workbench.readmodels.paging import Column, PageSource
from workbench.store import Store
from workbench.store.vocabulary import FAILURE_SQL, failure_sql

TRANSIENT_CODES = tuple(code for code, failure in CATALOGUE.items() if failure.transient)
_INTERVAL_RE = re.compile(r"^\s*\d+\s+(second|minute|hour|day|week|month)s?\s*$", re.IGNORECASE)
_RETRY = "(l.outcome = 'retried' OR l.action = 'retry')"

# --- pages of the Log screen ----------------------------------------------------------

JOURNAL_COLUMNS = (
    Column("log_id", "#", 6),
    Column("run_id", "Run", 3),
    Column("logged_at", "Time", 19),
    Column("operator_id", "Operator", 8),
    Column("contact_id", "Contact", 10),
    Column("action", "Action", 15),
    Column("outcome", "Outcome", 9),
    Column("code", "Code", 24),
    Column("detail", "Detail", None),
)


@dataclass(frozen=True)
class JournalFilter:
    run_id: int | None = None
    operator_id: str = ""
    failed_only: bool = False


def journal_source(f: JournalFilter) -> PageSource:
    where, params = [], []
    if f.run_id is not None:
        where.append("run_id = ?")
        params.append(f.run_id)
    if f.operator_id.strip():
        where.append("operator_id = ?")
        params.append(f.operator_id.strip())
    if f.failed_only:
        where.append(FAILURE_SQL)
    select = ("SELECT log_id AS key, log_id, run_id, logged_at, operator_id, contact_id, action, outcome, "
              "code, detail FROM sync_log")
    if where:
        select += " WHERE " + " AND ".join(where)
    return PageSource(select, JOURNAL_COLUMNS, "log_id DESC", tuple(params))


def journal_entry(store: Store, log_id: int) -> dict[str, Any] | None:
    df = store.df("SELECT * FROM sync_log WHERE log_id = ?", [log_id])
    if df.empty:
        return None
    return df.astype(object).where(df.notna(), None).to_dict(orient="records")[0]


NOTIFICATION_COLUMNS = (
    Column("notification_id", "#", 4),
    Column("sent_at", "Sent", 19),
    Column("run_id", "Run", 4),
    Column("operator_id", "Operator", 8),
    Column("recipients", "To", 28),
    Column("code", "Code", 24),
    Column("status", "Status", 6),
    Column("subject", "Subject", 40),
)


def notifications_source() -> PageSource:
    return PageSource("SELECT notification_id AS key, notification_id, sent_at, run_id, operator_id, recipients, "
                      "code, status, subject FROM notifications", NOTIFICATION_COLUMNS, "notification_id DESC")


RUN_COLUMNS = (
    Column("run_id", "Run", 4),
    Column("started_at", "Started", 19),
    Column("trigger", "Trigger", 9),
    Column("dry_run", "Dry", 3),
    Column("status", "Status", 9),
    Column("operators", "Ops", 4),
    Column("planned", "Planned", 7),
    Column("done", "Done", 6),
    Column("failed", "Failed", 6),
    Column("backends", "Backend", 9),
)
_RUN_FIELDS = ", ".join(c.key for c in RUN_COLUMNS)


def runs_source() -> PageSource:
    return PageSource(f"SELECT run_id AS key, {_RUN_FIELDS} FROM sync_runs", RUN_COLUMNS, "run_id DESC")


def latest_runs(con: Any, limit: int) -> list[tuple]:
    """The newest ``limit`` runs in RUN_COLUMNS order (the Overview's "Last runs")."""
    return con.execute(f"SELECT {_RUN_FIELDS} FROM sync_runs ORDER BY run_id DESC LIMIT ?", [limit]).fetchall()


# --- a sync run as it happens ---------------------------------------------------------

@dataclass
class LiveRun:
    run_id: int | None
    status: str
    mailboxes: list[tuple]       # operator_id, planned, done, failed, state, last event
    journal: list[tuple]         # log_id, operator_id, contact_id, action, outcome, code, detail


def live_run(store: Store, *, trigger: str | None = None, journal_rows: int = 12) -> LiveRun:
    """The latest run (of ``trigger`` if given) read from the journal the engine commits per batch.

    A mailbox an error stopped counts the planned writes it did not reach as failed, as the run does. Its last
    event is the last row that is not a skip (a mailbox in sync shows its snapshot, not its last private contact)."""
    from workbench.sync.plan import WRITE_ACTIONS
    writes = "(" + ", ".join(f"'{a}'" for a in WRITE_ACTIONS) + ")"
    event = "coalesce(code || ' ', '') || coalesce(detail, action || ' ' || outcome)"
    with store.read() as con:
        where = "WHERE trigger = ?" if trigger else ""
        row = con.execute(f"SELECT run_id, status FROM sync_runs {where} ORDER BY run_id DESC LIMIT 1",
                          [trigger] if trigger else []).fetchone()
        if row is None:
            return LiveRun(None, "", [], [])
        run_id, status = row
        boxes = con.execute(f"""
            WITH per AS (
                SELECT operator_id,
                       count(*) FILTER (WHERE outcome = 'planned' AND action IN {writes}) AS planned,
                       count(*) FILTER (WHERE outcome = 'ok' AND action IN {writes}) AS done,
                       count(*) FILTER (WHERE outcome = 'failed' AND action IN {writes}) AS failed,
                       count(*) FILTER (WHERE outcome = 'skipped' AND code = 'PLAN_STALE' AND action IN {writes})
                         AS stale,
                       CASE WHEN bool_or(action = 'mailbox' AND outcome = 'cancelled') THEN 'cancelled'
                            WHEN bool_or(action = 'mailbox' AND outcome = 'failed') THEN 'failed'
                            WHEN bool_or(action = 'mailbox' AND outcome = 'skipped') THEN 'skipped'
                            WHEN ? = 'running' THEN 'running' ELSE 'done' END AS state,
                       coalesce(arg_max({event}, log_id) FILTER (WHERE action <> 'skip'), arg_max({event}, log_id))
                         AS last_event
                FROM sync_log WHERE run_id = ? AND operator_id IS NOT NULL GROUP BY operator_id)
            SELECT operator_id, planned, done,
                   CASE WHEN state = 'failed' THEN greatest(failed, planned - done - stale) ELSE failed END,
                   state, last_event
            FROM per ORDER BY operator_id""", [status, run_id]).fetchall()
        journal = con.execute("""
            SELECT log_id, operator_id, contact_id, action, outcome, code, detail FROM sync_log
            WHERE run_id = ? ORDER BY log_id DESC LIMIT ?""", [run_id, journal_rows]).fetchall()
    return LiveRun(int(run_id), status, boxes, journal)


# --- runs (notebooks) -------------------------------------------------------------------

def runs(store: Store, *, include_dry_runs: bool = True) -> pd.DataFrame:
    """One row per sync run with its duration in seconds, the backends it used and its failure-email count."""
    where = "" if include_dry_runs else "WHERE NOT r.dry_run"
    return store.df(f"""
        SELECT r.run_id, r.started_at, r.finished_at,
               epoch(r.finished_at - r.started_at) AS seconds,
               r.trigger, r.dry_run, r.status, r.backends, r.operators, r.planned, r.done, r.failed,
               r.requests, r.retries,
               (SELECT count(*) FROM notifications n WHERE n.run_id = r.run_id) AS failure_emails
        FROM sync_runs r {where}
        ORDER BY r.run_id""")


def runs_over_time(store: Store, *, every: str = "1 hour", include_dry_runs: bool = False) -> pd.DataFrame:
    """Runs per time bucket (``every``: e.g. '15 minutes', '1 hour', '1 day').

    Index: bucket start. Columns: runs, one count per status (ok, partial, failed,
    cancelled, running, died), items done and failed.
    """
    if not _INTERVAL_RE.match(every):
        raise WorkbenchError("USAGE", f"every={every!r}: must look like '15 minutes', '1 hour' or '1 day'")
    where = "" if include_dry_runs else "WHERE NOT dry_run"
    df = store.df(f"""
        SELECT time_bucket(CAST(? AS INTERVAL), started_at) AS period,
               count(*) AS runs,
               count(*) FILTER (WHERE status = 'ok') AS ok,
               count(*) FILTER (WHERE status = 'partial') AS partial,
               count(*) FILTER (WHERE status = 'failed') AS failed,
               count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
               count(*) FILTER (WHERE status = 'running') AS running,
               count(*) FILTER (WHERE status = 'died') AS died,
               coalesce(sum(done), 0) AS items_done,
               coalesce(sum(failed), 0) AS items_failed
        FROM sync_runs {where}
        GROUP BY period ORDER BY period""", [every.strip()])
    return df.set_index("period")


# --- failures -----------------------------------------------------------------------------

def _failure_where(run_id: int | None, since: Any) -> tuple[str, list[Any]]:
    where = [failure_sql("l")]
    params: list[Any] = []
    if run_id is not None:
        where.append("l.run_id = ?")
        params.append(run_id)
    if since is not None:
        where.append("l.logged_at >= ?")
        params.append(pd.Timestamp(since).to_pydatetime())
    return " AND ".join(where), params


def failures_by_code(store: Store, *, run_id: int | None = None, since: Any = None) -> pd.DataFrame:
    """Failed journal entries (a person's cancel is not one) per catalogue code, with title and remedy."""
    where, params = _failure_where(run_id, since)
    df = store.df(f"""
        SELECT coalesce(l.code, 'UNKNOWN') AS code, count(*) AS failures,
               count(DISTINCT l.operator_id) AS operators, count(DISTINCT l.run_id) AS runs,
               min(l.logged_at) AS first_at, max(l.logged_at) AS last_at
        FROM sync_log l WHERE {where}
        GROUP BY 1 ORDER BY failures DESC, code""", params)
    return with_catalogue(df, "code")


def failures_by_operator(store: Store, *, run_id: int | None = None, since: Any = None) -> pd.DataFrame:
    """Failures per operator: how many, which codes, when last, and the mailbox's failure streak."""
    where, params = _failure_where(run_id, since)
    return store.df(f"""
        SELECT l.operator_id, any_value(o.name) AS name, count(*) AS failures,
               string_agg(DISTINCT coalesce(l.code, 'UNKNOWN'), ', ' ORDER BY coalesce(l.code, 'UNKNOWN')) AS codes,
               count(DISTINCT l.run_id) AS runs, max(l.logged_at) AS last_at,
               any_value(m.failure_streak) AS failure_streak, any_value(m.last_error_code) AS last_error_code
        FROM sync_log l
        LEFT JOIN operators o USING (operator_id)
        LEFT JOIN mailbox_state m USING (operator_id)
        WHERE {where}
        GROUP BY l.operator_id ORDER BY failures DESC, l.operator_id""", params)


def failure_matrix(store: Store, *, run_id: int | None = None, since: Any = None) -> pd.DataFrame:
    """Operators x codes: failure counts (rows = operators, columns = codes, zeros filled)."""
    where, params = _failure_where(run_id, since)
    df = store.df(f"""
        SELECT coalesce(l.operator_id, '(none)') AS operator_id, coalesce(l.code, 'UNKNOWN') AS code,
               count(*) AS failures
        FROM sync_log l WHERE {where} GROUP BY 1, 2""", params)
    if df.empty:
        return pd.DataFrame(index=pd.Index([], name="operator_id"))
    table = df.pivot(index="operator_id", columns="code", values="failures").fillna(0).astype("int64")
    table.columns.name = "code"
    return table.sort_index()


# --- retries and throttling ---------------------------------------------------------------

def retries_and_throttling(store: Store) -> pd.DataFrame:
    """Per run: requests, retries (run counter and journal entries), retries per transient code,
    back-off seconds waited, deadline stops and failure e-mails."""
    per_code = ",\n".join(
        f"count(l.log_id) FILTER (WHERE {_RETRY} AND l.code = '{code}') AS {code.removeprefix('EWS_').lower()}"
        for code in TRANSIENT_CODES)
    return store.df(f"""
        SELECT r.run_id, r.started_at, r.status, r.requests, r.retries,
               count(l.log_id) FILTER (WHERE {_RETRY}) AS retry_entries,
               {per_code},
               coalesce(sum(l.seconds) FILTER (WHERE {_RETRY}), 0) AS backoff_seconds,
               count(l.log_id) FILTER (WHERE l.code = 'SYNC_DEADLINE') AS deadline_cancelled,
               (SELECT count(*) FROM notifications n WHERE n.run_id = r.run_id) AS failure_emails
        FROM sync_runs r LEFT JOIN sync_log l ON l.run_id = r.run_id
        WHERE NOT r.dry_run
        GROUP BY ALL ORDER BY r.run_id""")


def retries_by_code(store: Store) -> pd.DataFrame:
    """Retries per code and operator: who was throttled (or hit 5xx/timeouts) and how often."""
    df = store.df(f"""
        SELECT coalesce(l.code, 'UNKNOWN') AS code, l.operator_id, count(*) AS retries,
               coalesce(sum(l.seconds), 0) AS backoff_seconds, max(l.logged_at) AS last_at
        FROM sync_log l WHERE {_RETRY}
        GROUP BY 1, 2 ORDER BY retries DESC, code, l.operator_id""")
    return with_catalogue(df, "code")


# --- throughput ---------------------------------------------------------------------------

def batch_throughput(store: Store, *, run_id: int | None = None) -> pd.DataFrame:
    """One row per EWS batch: items, seconds and items per second."""
    where, params = ["action = 'batch'"], []
    if run_id is not None:
        where.append("run_id = ?")
        params.append(run_id)
    return store.df(f"""
        SELECT run_id, operator_id, batch_no, logged_at, outcome, coalesce(items, 0) AS items, seconds,
               CASE WHEN seconds > 0 THEN items / seconds END AS items_per_second
        FROM sync_log WHERE {' AND '.join(where)}
        ORDER BY run_id, operator_id, batch_no, log_id""", params)


def throughput_by_run(store: Store) -> pd.DataFrame:
    """Per run: batches, items, seconds spent in batches, overall and median items per second."""
    return store.df("""
        SELECT run_id, count(*) AS batches, coalesce(sum(items), 0) AS items,
               coalesce(sum(seconds), 0) AS seconds,
               CASE WHEN sum(seconds) > 0 THEN sum(items) / sum(seconds) END AS items_per_second,
               median(CASE WHEN seconds > 0 THEN items / seconds END) AS median_batch_items_per_second,
               max(items) AS largest_batch
        FROM sync_log WHERE action = 'batch'
        GROUP BY run_id ORDER BY run_id""")


# --- mailboxes and notifications ----------------------------------------------------------

def mailbox_health(store: Store) -> pd.DataFrame:
    """Per mailbox: last sync and success, failure streak, last error (with title), subscription."""
    df = store.df("""
        SELECT m.operator_id, o.name, m.mailbox_address, m.last_sync_at, m.last_success_at,
               m.failure_streak, m.last_error_code, m.subscription_id IS NOT NULL AS subscribed,
               m.last_notification_at, m.next_slot_at
        FROM mailbox_state m LEFT JOIN operators o USING (operator_id)
        ORDER BY m.failure_streak DESC, m.operator_id""")
    return with_catalogue(df, "last_error_code")


def failure_emails(store: Store) -> pd.DataFrame:
    """Failure e-mails sent (or that failed to send)."""
    return store.df("""
        SELECT notification_id, sent_at, run_id, operator_id, recipients, code, status, subject
        FROM notifications ORDER BY notification_id""")


def health_summary(store: Store) -> dict[str, Any]:
    """Headline numbers over the whole journal (real runs only); cancelled runs counted on their own."""
    retry = _RETRY.replace("l.", "")
    with store.read() as con:
        r = con.execute("""
            SELECT count(*), count(*) FILTER (WHERE status = 'ok'),
                   count(*) FILTER (WHERE status IN ('failed', 'partial')),
                   count(*) FILTER (WHERE status = 'cancelled'),
                   coalesce(sum(retries), 0)
            FROM sync_runs WHERE NOT dry_run""").fetchone()
        l = con.execute(f"""
            SELECT count(*) FILTER (WHERE {FAILURE_SQL}),
                   count(*) FILTER (WHERE {retry}),
                   count(*) FILTER (WHERE {retry} AND code = 'EWS_THROTTLED'),
                   count(*) FILTER (WHERE action = 'batch'),
                   coalesce(sum(items) FILTER (WHERE action = 'batch'), 0),
                   coalesce(sum(seconds) FILTER (WHERE action = 'batch'), 0)
            FROM sync_log""").fetchone()
        emails = con.execute("SELECT count(*) FROM notifications").fetchone()[0]
    seconds = float(l[5])
    return {"runs": int(r[0]), "runs_ok": int(r[1]), "runs_not_ok": int(r[2]), "runs_cancelled": int(r[3]),
            "run_retries": int(r[4]), "failures": int(l[0]), "retry_entries": int(l[1]), "throttled": int(l[2]),
            "batches": int(l[3]), "batch_items": int(l[4]),
            "items_per_second": round(float(l[4]) / seconds, 3) if seconds > 0 else None,
            "failure_emails": int(emails)}


# --- one run's journal --------------------------------------------------------------------

RUN_JOURNAL_COLUMNS = ["log_id", "logged_at", "operator_id", "contact_id", "action", "outcome", "code", "detail",
                       "batch_no", "items", "seconds"]


def run_journal(store: Store, run_id: int, *, operator_id: str | None = None) -> pd.DataFrame:
    """Every journal entry of one run (plan decisions, batches, retries, outcomes), in order."""
    where, params = "run_id = ?", [run_id]
    if operator_id is not None:
        where += " AND operator_id = ?"
        params.append(operator_id)
    return store.df(f"SELECT {', '.join(RUN_JOURNAL_COLUMNS)} FROM sync_log WHERE {where} ORDER BY log_id", params)


def journal_counts(store: Store, run_id: int) -> pd.DataFrame:
    """One run's journal as action x outcome counts (zeros filled)."""
    df = store.df("SELECT action, outcome, count(*) AS n FROM sync_log WHERE run_id = ? GROUP BY 1, 2", [run_id])
    if df.empty:
        return pd.DataFrame(index=pd.Index([], name="action"))
    table = df.pivot(index="action", columns="outcome", values="n").fillna(0).astype("int64")
    table.columns.name = "outcome"
    return table
