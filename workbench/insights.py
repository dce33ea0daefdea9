"""Headless queries behind the companion notebooks (and reusable by the dashboard).

Pure functions over a ``Store`` that return pandas DataFrames (or small dicts of
counts). They only read, except ``cohort_csv`` which writes a CSV file (never the
store). No textual, no exchangelib: a test imports this module in a subprocess and
checks ``sys.modules``.

    from workbench import insights
    store = insights.open_store()                # WORKBENCH_STORE, refuses a missing file
    insights.operator_audit(store)               # who is enabled, verified, failing and why
    insights.email_mismatches(store)             # operator e-mail differs from the mailbox's address
    insights.cohort_csv(store, "enable.csv", enabled=False, verification="verified")
    insights.enable_cohort(store, "enable.csv", dry_run=True, enabled=False, verification="verified")
    insights.runs_over_time(store, every="1 hour")
    insights.failures_by_code(store); insights.failures_by_operator(store)
    insights.retries_and_throttling(store); insights.batch_throughput(store)

Journal conventions read here (schema migration 1): ``sync_runs`` one row per run;
``sync_log`` rows with ``outcome`` failed/cancelled are failures (``code`` from the
failure catalogue), ``outcome = 'retried'`` (or ``action = 'retry'``) are retries
(``seconds`` = back-off waited), ``action = 'batch'`` rows are one EWS batch each
(``items``, ``seconds``, ``batch_no``); ``notifications`` are failure e-mails.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from workbench.errors import CATALOGUE, WorkbenchError
from workbench.paths import from_notebook
from workbench.store import Store
from workbench.store.operators_table import VERIFIED_STATUSES

__all__ = [
    "open_store", "operator_audit", "audit_counts", "failing_operators", "email_mismatches", "cohort",
    "cohort_csv", "enable_cohort", "runs", "runs_over_time", "failures_by_code", "failures_by_operator", "failure_matrix",
    "retries_and_throttling", "retries_by_code", "batch_throughput", "throughput_by_run", "mailbox_health",
    "failure_emails", "health_summary", "run_journal", "journal_counts", "what_if", "compare_previews",
    "summary_difference", "frame_difference",
]

VERIFICATION_STATES = ("verified", "failing", "unverified")
FAILED_OUTCOMES = ("failed", "cancelled")
TRANSIENT_CODES = tuple(code for code, failure in CATALOGUE.items() if failure.transient)
_INTERVAL_RE = re.compile(r"^\s*\d+\s+(second|minute|hour|day|week|month)s?\s*$", re.IGNORECASE)


def open_store(path: str | os.PathLike[str] | None = None) -> Store:
    """The store a notebook works on: ``path`` or ``$WORKBENCH_STORE``.

    A relative path is read from the repository root (``workbench.paths.from_notebook``); one from
    ``$WORKBENCH_STORE`` is put back there absolute for the rest of the kernel's life. Refuses a
    missing file rather than silently creating an empty store.
    """
    from_env = path is None
    given = os.environ.get("WORKBENCH_STORE") if from_env else path
    if not given:
        raise WorkbenchError("FILE_NOT_FOUND", "WORKBENCH_STORE is not set; point it at the workbench "
                                               "store (e.g. demo/workbench.duckdb)")
    found = from_notebook(given)
    if not found.is_file():
        raise WorkbenchError("FILE_NOT_FOUND", f"{given}: no workbench store there (read as {found}; a relative "
                                               "WORKBENCH_STORE starts at the repository root)")
    if from_env:
        os.environ["WORKBENCH_STORE"] = str(found)
    return Store(found)


def _catalogue(df: pd.DataFrame, code_column: str, *, cause: bool = False) -> pd.DataFrame:
    """Add the catalogue's title (and remedy) for the codes in ``code_column``."""
    def pick(attr: str):
        return [getattr(CATALOGUE[c], attr) if isinstance(c, str) and c in CATALOGUE else None
                for c in df[code_column]]
    df["title"] = pick("title")
    if cause:
        df["cause"] = pick("cause")
    df["remedy"] = pick("remedy")
    return df


# --- operators --------------------------------------------------------------------

_AUDIT_SQL = f"""
    WITH latest AS (
        SELECT * FROM operator_checks
        QUALIFY row_number() OVER (PARTITION BY operator_id ORDER BY checked_at DESC, check_id DESC) = 1
    ), history AS (
        SELECT operator_id, count(*) AS checks, count(*) FILTER (WHERE status <> 'ok') AS failed_checks
        FROM operator_checks GROUP BY operator_id
    )
    SELECT o.operator_id, o.name, o.email, o.contact_sync,
           CASE WHEN c.status IS NULL THEN 'unverified'
                WHEN c.status IN {VERIFIED_STATUSES} THEN 'verified' ELSE 'failing' END AS verification,
           c.status AS verify_status, c.code AS verify_code, c.detail AS verify_detail,
           c.mailbox_address, c.checked_at AS verified_at,
           coalesce(c.mailbox_address IS NOT NULL AND lower(trim(c.mailbox_address)) <> lower(trim(o.email)),
                    false) OR coalesce(c.code = 'EWS_EMAIL_MISMATCH', false) AS email_differs,
           coalesce(h.checks, 0) AS checks, coalesce(h.failed_checks, 0) AS failed_checks,
           m.failure_streak, m.last_error_code, m.last_success_at,
           o.updated_at, o.source
    FROM operators o
    LEFT JOIN latest c USING (operator_id)
    LEFT JOIN history h USING (operator_id)
    LEFT JOIN mailbox_state m USING (operator_id)
    ORDER BY o.operator_id
"""


def operator_audit(store: Store) -> pd.DataFrame:
    """Every operator: enabled?, verification state (verified/failing/unverified) and why.

    ``verification`` is about the mailbox: 'verified' when the latest check found it fine (status
    ``ok``, or ``sync-off`` = fine but the operator's contact sync was off at the time), 'failing'
    for any other status, 'unverified' when never checked.

    ``title``/``remedy`` come from the failure catalogue for the latest check's code;
    ``email_differs`` is true when Exchange reported another primary address.
    """
    df = store.df(_AUDIT_SQL)
    df["contact_sync"] = df["contact_sync"].astype(bool)
    df["email_differs"] = df["email_differs"].astype(bool)
    return _catalogue(df, "verify_code")


def audit_counts(store: Store) -> dict[str, int]:
    """Operators at a glance: totals per enabled/verification state."""
    df = operator_audit(store)
    enabled = df["contact_sync"]
    counts = {"operators": len(df), "enabled": int(enabled.sum()), "disabled": int((~enabled).sum())}
    for state in VERIFICATION_STATES:
        counts[state] = int((df["verification"] == state).sum())
        counts[f"enabled_{state}"] = int(((df["verification"] == state) & enabled).sum())
    counts["email_differs"] = int(df["email_differs"].sum())
    return counts


def failing_operators(store: Store, *, enabled_only: bool = False) -> pd.DataFrame:
    """Operators whose latest verification failed, with the catalogue's explanation; enabled ones first."""
    df = operator_audit(store)
    df = df[df["verification"] == "failing"]
    if enabled_only:
        df = df[df["contact_sync"]]
    df = df.sort_values(["contact_sync", "operator_id"], ascending=[False, True])
    cols = ["operator_id", "name", "email", "contact_sync", "verify_status", "verify_code", "title",
            "verify_detail", "remedy", "mailbox_address", "verified_at", "failed_checks"]
    return df[cols].reset_index(drop=True)


def email_mismatches(store: Store) -> pd.DataFrame:
    """Operators whose e-mail is not their mailbox's primary address (as the latest verification saw it)."""
    df = operator_audit(store)
    df = df[df["email_differs"]]
    return df[["operator_id", "name", "email", "mailbox_address", "contact_sync", "verify_status",
               "verify_code", "verified_at"]].reset_index(drop=True)


def cohort(store: Store, *, ids: Iterable[str] | None = None, enabled: bool | None = None,
           verification: str | Iterable[str] | None = None, email_differs: bool | None = None) -> pd.DataFrame:
    """Audit rows matching every given filter (``None`` = any).

    ``verification``: one of or a list of verified / failing / unverified.
    """
    df = operator_audit(store)
    mask = pd.Series(True, index=df.index)
    if ids is not None:
        wanted = [i.strip() for i in ids]
        unknown = sorted(set(wanted) - set(df["operator_id"]))
        if unknown:
            raise WorkbenchError("OPERATOR_NOT_FOUND", f"unknown operator id(s): {', '.join(unknown)}")
        mask &= df["operator_id"].isin(wanted)
    if enabled is not None:
        mask &= df["contact_sync"] == enabled
    if verification is not None:
        states = [verification] if isinstance(verification, str) else list(verification)
        bad = [s for s in states if s not in VERIFICATION_STATES]
        if bad:
            raise WorkbenchError("USAGE", f"verification={bad[0]!r}: must be one of {', '.join(VERIFICATION_STATES)}")
        mask &= df["verification"].isin(states)
    if email_differs is not None:
        mask &= df["email_differs"] == email_differs
    return df[mask].reset_index(drop=True)


def cohort_csv(store: Store, path: str | os.PathLike[str], *, contact_sync: bool = True,
               **filters: Any) -> Path:
    """Write a bulk-enable CSV (operator_id,name,email,contact_sync) for ``cohort(store, **filters)``.

    The file is what ``workbench operators import`` (and ``import_operators``) reads; every row
    gets ``contact_sync`` = the given value. Returns the path.
    """
    return _write_cohort(cohort(store, **filters), path, contact_sync)


def _write_cohort(rows: pd.DataFrame, path: str | os.PathLike[str], contact_sync: bool) -> Path:
    path = Path(path)
    from workbench.csvio import write_csv
    write_csv(path, ["operator_id", "name", "email", "contact_sync"],
              ((r.operator_id, r.name, r.email, contact_sync) for r in rows.itertuples()))
    return path


def enable_cohort(store: Store, path: str | os.PathLike[str], *, dry_run: bool = True, **filters: Any):
    """Write the bulk-enable CSV for ``cohort(store, **filters)`` and run it through the operators import.

    A dry run by default (nothing written to the store). Returns the import's ``ImportReview``; an
    empty cohort gives an empty review (the file then holds the header only) instead of the import's
    "header only" refusal.
    """
    from workbench.operators.csv_import import ImportReview, import_operators
    rows = cohort(store, **filters)
    path = _write_cohort(rows, path, True)
    if rows.empty:
        return ImportReview(str(path), "add-or-update", "operator_id", dry_run, False)
    return import_operators(store, path, dry_run=dry_run, source=f"csv:{Path(path).name}")


# --- runs -------------------------------------------------------------------------

def runs(store: Store, *, include_dry_runs: bool = True) -> pd.DataFrame:
    """One row per sync run with its duration in seconds and failure-email count."""
    where = "" if include_dry_runs else "WHERE NOT r.dry_run"
    return store.df(f"""
        SELECT r.run_id, r.started_at, r.finished_at,
               epoch(r.finished_at - r.started_at) AS seconds,
               r.trigger, r.dry_run, r.status, r.operators, r.planned, r.done, r.failed,
               r.requests, r.retries,
               (SELECT count(*) FROM notifications n WHERE n.run_id = r.run_id) AS failure_emails
        FROM sync_runs r {where}
        ORDER BY r.run_id""")


def runs_over_time(store: Store, *, every: str = "1 hour", include_dry_runs: bool = False) -> pd.DataFrame:
    """Runs per time bucket (``every``: e.g. '15 minutes', '1 hour', '1 day').

    Index: bucket start. Columns: runs, one count per status (ok, partial, failed,
    cancelled, running), items done and failed.
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


# --- failures ---------------------------------------------------------------------

def _failure_where(run_id: int | None, since: Any) -> tuple[str, list[Any]]:
    where = ["l.outcome IN ('failed', 'cancelled')", "l.action <> 'batch'"]   # a batch row sums its items
    params: list[Any] = []
    if run_id is not None:
        where.append("l.run_id = ?")
        params.append(run_id)
    if since is not None:
        where.append("l.logged_at >= ?")
        params.append(pd.Timestamp(since).to_pydatetime())
    return " AND ".join(where), params


def failures_by_code(store: Store, *, run_id: int | None = None, since: Any = None) -> pd.DataFrame:
    """Failed (or deadline-cancelled) journal entries per catalogue code, with title and remedy."""
    where, params = _failure_where(run_id, since)
    df = store.df(f"""
        SELECT coalesce(l.code, 'UNKNOWN') AS code, count(*) AS failures,
               count(DISTINCT l.operator_id) AS operators, count(DISTINCT l.run_id) AS runs,
               min(l.logged_at) AS first_at, max(l.logged_at) AS last_at
        FROM sync_log l WHERE {where}
        GROUP BY 1 ORDER BY failures DESC, code""", params)
    return _catalogue(df, "code")


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


# --- retries and throttling -------------------------------------------------------

_RETRY = "(l.outcome = 'retried' OR l.action = 'retry')"


def retries_and_throttling(store: Store) -> pd.DataFrame:
    """Per run: requests, retries (run counter and journal entries), retries per transient code,
    back-off seconds waited, deadline cancellations and failure e-mails."""
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
    return _catalogue(df, "code")


# --- throughput -------------------------------------------------------------------

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


# --- mailboxes and notifications --------------------------------------------------

def mailbox_health(store: Store) -> pd.DataFrame:
    """Per mailbox: last sync and success, failure streak, last error (with title), subscription."""
    df = store.df("""
        SELECT m.operator_id, o.name, m.mailbox_address, m.last_sync_at, m.last_success_at,
               m.failure_streak, m.last_error_code, m.subscription_id IS NOT NULL AS subscribed,
               m.last_notification_at, m.next_slot_at
        FROM mailbox_state m LEFT JOIN operators o USING (operator_id)
        ORDER BY m.failure_streak DESC, m.operator_id""")
    return _catalogue(df, "last_error_code")


def failure_emails(store: Store) -> pd.DataFrame:
    """Failure e-mails sent (or that failed to send)."""
    return store.df("""
        SELECT notification_id, sent_at, run_id, operator_id, recipients, code, status, subject
        FROM notifications ORDER BY notification_id""")


def health_summary(store: Store) -> dict[str, Any]:
    """Headline numbers over the whole journal (real runs only)."""
    with store.read() as con:
        r = con.execute("""
            SELECT count(*), count(*) FILTER (WHERE status = 'ok'),
                   count(*) FILTER (WHERE status IN ('failed', 'partial', 'cancelled')),
                   coalesce(sum(retries), 0)
            FROM sync_runs WHERE NOT dry_run""").fetchone()
        l = con.execute(f"""
            SELECT count(*) FILTER (WHERE outcome IN ('failed', 'cancelled') AND action <> 'batch'),
                   count(*) FILTER (WHERE {_RETRY.replace('l.', '')}),
                   count(*) FILTER (WHERE {_RETRY.replace('l.', '')} AND code = 'EWS_THROTTLED'),
                   count(*) FILTER (WHERE action = 'batch'),
                   coalesce(sum(items) FILTER (WHERE action = 'batch'), 0),
                   coalesce(sum(seconds) FILTER (WHERE action = 'batch'), 0)
            FROM sync_log""").fetchone()
        emails = con.execute("SELECT count(*) FROM notifications").fetchone()[0]
    seconds = float(l[5])
    return {"runs": int(r[0]), "runs_ok": int(r[1]), "runs_not_ok": int(r[2]), "run_retries": int(r[3]),
            "failures": int(l[0]), "retry_entries": int(l[1]), "throttled": int(l[2]),
            "batches": int(l[3]), "batch_items": int(l[4]),
            "items_per_second": round(float(l[4]) / seconds, 3) if seconds > 0 else None,
            "failure_emails": int(emails)}


# --- one run's journal ------------------------------------------------------------

JOURNAL_COLUMNS = ["log_id", "logged_at", "operator_id", "contact_id", "action", "outcome", "code", "detail",
                   "batch_no", "items", "seconds"]


def run_journal(store: Store, run_id: int, *, operator_id: str | None = None) -> pd.DataFrame:
    """Every journal entry of one run (plan decisions, batches, retries, outcomes), in order."""
    where, params = "run_id = ?", [run_id]
    if operator_id is not None:
        where += " AND operator_id = ?"
        params.append(operator_id)
    return store.df(f"SELECT {', '.join(JOURNAL_COLUMNS)} FROM sync_log WHERE {where} ORDER BY log_id", params)


def journal_counts(store: Store, run_id: int) -> pd.DataFrame:
    """One run's journal as action x outcome counts (zeros filled)."""
    df = store.df("SELECT action, outcome, count(*) AS n FROM sync_log WHERE run_id = ? GROUP BY 1, 2", [run_id])
    if df.empty:
        return pd.DataFrame(index=pd.Index([], name="action"))
    table = df.pivot(index="action", columns="outcome", values="n").fillna(0).astype("int64")
    table.columns.name = "outcome"
    return table


# --- what-if: the same snapshot planned under other settings ---------------------

def what_if(store: Store, preview: Any, **overrides: Any):
    """Plan the operators of ``preview`` again from the stored snapshot with settings ``overrides``.

    ``overrides``: any of sync_direction, conflict_policy, include_private, sync_category,
    mass_delete_percent; each validated by its settings rule. Nothing is stored and Exchange is not
    asked (the snapshot is the one ``preview`` just took). Returns a ``workbench.sync.preview.Preview``.
    """
    from dataclasses import fields, replace

    from workbench.settings import SETTINGS, RuleBroken, excerpt
    from workbench.store.settings_table import load
    from workbench.sync.plan import PlanSettings, plan_store
    from workbench.sync.preview import from_plan

    allowed = [f.name for f in fields(PlanSettings)]
    parsed: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in allowed:
            raise WorkbenchError("USAGE", f"{key}: not a planning setting; use one of {', '.join(allowed)}")
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        try:
            parsed[key] = SETTINGS[key].parse(text)
        except RuleBroken as exc:
            raise WorkbenchError("SETTING_INVALID", f"{key}={excerpt(text)} refused: must be {exc}") from None
    settings = replace(PlanSettings.of(load(store)), **parsed)
    return from_plan(plan_store(store, settings, preview.plan.operator_ids()))


def summary_difference(before: Any, after: Any) -> pd.DataFrame:
    """Action counts of two previews (or plans) side by side: before, after, change; index = action."""
    def counts(p: Any) -> pd.Series:
        plan = getattr(p, "plan", p)
        return pd.Series(plan.counts(), dtype="int64")
    table = pd.DataFrame({"before": counts(before), "after": counts(after)}).fillna(0).astype("int64")
    table["change"] = table["after"] - table["before"]
    table.index.name = "action"
    return table.sort_index()


def compare_previews(before: Any, after: Any) -> pd.DataFrame:
    """Actions that differ between two previews (or plans), per operator, contact and item.

    Columns: operator_id, contact_id, item_id, action_before, action_after, winner_before, winner_after
    (the winner only for a conflict of a linked pair: both sides changed since the last sync).
    """
    def actions(p: Any) -> pd.DataFrame:
        a = getattr(p, "plan", p).actions[["operator_id", "contact_id", "item_id", "action", "winner", "conflict"]]
        resolved = a["conflict"].astype(bool) & a["action"].isin(("update-exchange", "update-crm", "conflict"))
        return a.assign(winner=a["winner"].where(resolved, None))
    return frame_difference(actions(before), actions(after), key=["operator_id", "contact_id", "item_id"],
                            compare=["action", "winner"])


# --- comparing two frames (e.g. plans under two settings) -------------------------

def frame_difference(before: pd.DataFrame, after: pd.DataFrame, *, key: str | list[str],
                     compare: str | list[str]) -> pd.DataFrame:
    """Rows whose ``compare`` columns differ between two frames keyed by ``key``.

    Columns: the key, then ``<col>_before`` / ``<col>_after`` for each compared column;
    a row only on one side shows None on the other.
    """
    keys = [key] if isinstance(key, str) else list(key)
    cols = [compare] if isinstance(compare, str) else list(compare)
    merged = before[keys + cols].merge(after[keys + cols], on=keys, how="outer",
                                       suffixes=("_before", "_after"), indicator=True)
    changed = merged["_merge"] != "both"
    for c in cols:
        a, b = merged[f"{c}_before"], merged[f"{c}_after"]
        changed |= ~((a == b) | (a.isna() & b.isna()))
    out = merged[changed].drop(columns="_merge")
    sides = [f"{c}_{side}" for c in cols for side in ("before", "after")]
    out[sides] = out[sides].astype(object).where(out[sides].notna(), None)
    ordered = keys + [f"{c}_{side}" for c in cols for side in ("before", "after")]
    return out[ordered].sort_values(keys).reset_index(drop=True)
