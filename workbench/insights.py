"""Headless queries behind the companion notebooks (and reusable by the dashboard).

Pure functions over a ``Store`` that return pandas DataFrames (or small dicts of
counts). They only read, except ``cohort_csv`` which writes a CSV file (never the
store). No textual, no exchangelib: a test imports this module in a subprocess and
checks ``sys.modules``.

    from workbench import insights
    store = insights.open_store()                # WORKBENCH_STORE, refuses a missing file
    insights.operator_audit(store)               # who is enabled, verified, failing and why
    insights.email_mismatches(store)             # operator e-mail differs from the mailbox's address
    insights.backend_counts(store)               # operators per backend (ews / graph), enabled, pinned
    insights.cohort_csv(store, "enable.csv", enabled=False, verification="verified")
    insights.enable_cohort(store, "enable.csv", dry_run=True, enabled=False, verification="verified")
    insights.runs_over_time(store, every="1 hour")
    insights.failures_by_code(store); insights.failures_by_operator(store)
    insights.retries_and_throttling(store); insights.batch_throughput(store)
    insights.find_contacts(store, "muller")      # by name, e-mail, company, phone, CRM id, Exchange item id
    insights.contact_history(store, "CRM-000002").journal   # one contact's story (workbench.contact_history)

The read-only queries live in ``workbench.readmodels`` (the dashboard reads the same ones) and are
re-exported here; the journal conventions are described in ``workbench.readmodels.journal``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.contact_history import contact_history, find_contacts
from workbench.errors import WorkbenchError
from workbench.readmodels.charts import STATUS_COLOURS, bucket_for, colours, integer_ticks
from workbench.readmodels.journal import (TRANSIENT_CODES, batch_throughput, failure_emails, failure_matrix,
                                          failures_by_code, failures_by_operator, health_summary, journal_counts,
                                          mailbox_health, retries_and_throttling, retries_by_code, run_journal,
                                          runs, runs_over_time, throughput_by_run)
from workbench.readmodels.journal import RUN_JOURNAL_COLUMNS as JOURNAL_COLUMNS
from workbench.readmodels.operators import (VERIFICATION_STATES, audit_counts, backend_counts, cohort,
                                            email_mismatches, failing_operators, operator_audit)
from workbench.paths import from_notebook
from workbench.store import Store

__all__ = [
    "open_store", "operator_audit", "audit_counts", "backend_counts", "failing_operators", "email_mismatches", "cohort",
    "cohort_csv", "enable_cohort", "runs", "runs_over_time", "failures_by_code", "failures_by_operator", "failure_matrix",
    "retries_and_throttling", "retries_by_code", "batch_throughput", "throughput_by_run", "mailbox_health",
    "failure_emails", "health_summary", "run_journal", "journal_counts", "what_if", "compare_previews",
    "summary_difference", "frame_difference", "find_contacts", "contact_history", "JOURNAL_COLUMNS",
    "TRANSIENT_CODES", "VERIFICATION_STATES", "STATUS_COLOURS", "bucket_for", "colours", "integer_ticks",
]


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


# --- cohorts: a bulk-enable CSV from the audit -------------------------------------

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
