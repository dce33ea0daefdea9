"""Operators and their verification: the Operators screen's pages and the audit notebook's frames.

Both read ``LATEST_CHECK`` (the latest check per operator) and classify it with ``VERIFICATION_SQL``,
so the dashboard and the notebooks always agree on who is verified, failing or unverified.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import pandas as pd

from workbench.errors import WorkbenchError
from workbench.readmodels.catalogue import with_catalogue
from workbench.readmodels.paging import Column, PageSource
from workbench.settings import BACKENDS
from workbench.store import Store
from workbench.store.operators_table import LATEST_CHECK, VERIFICATION_SQL, VERIFIED_STATUSES
from workbench.store.vocabulary import Verification

VERIFICATION_STATES = tuple(v.value for v in Verification)

OPERATOR_COLUMNS = (
    Column("operator_id", "Operator", 10),
    Column("name", "Name", 20),
    Column("email", "E-mail", 30),
    Column("contact_sync", "Sync", 4),
    Column("backend", "Backend", 7),
    Column("verify_status", "Verification", 38),
    Column("verified_at", "Verified at", 19),
)
OPERATOR_SORTS = {
    "id": "operator_id",
    "sync": "contact_sync DESC, operator_id",
    "email": "lower(email), operator_id",
    "status": "coalesce(verify_status, '~') , operator_id",
    "time": "verified_at DESC NULLS LAST, operator_id",
}


@dataclass(frozen=True)
class OperatorFilter:
    text: str = ""
    only_enabled: bool = False
    only_failing: bool = False
    sort: str = "id"


def operators_source(f: OperatorFilter) -> PageSource:
    where, params = [], []
    if f.text.strip():
        where.append("(operator_id ILIKE ? OR name ILIKE ? OR email ILIKE ?)")
        like = f"%{f.text.strip()}%"
        params += [like, like, like]
    if f.only_enabled:
        where.append("contact_sync")
    if f.only_failing:
        where.append(f"({VERIFICATION_SQL}) <> 'verified'")
    select = (f"SELECT operator_id AS key, operator_id, name, email, contact_sync, effective_backend AS backend, "
              f"CASE WHEN verify_status IS NULL THEN 'unverified' "
              f"     WHEN verify_code = 'EWS_EMAIL_MISMATCH' AND mailbox_address IS NOT NULL "
              f"          THEN 'mismatch: use ' || mailbox_address "
              f"     WHEN verify_code IS NULL THEN verify_status "
              f"     ELSE verify_status || ' (' || verify_code || ')' END AS verify_status, verified_at "
              f"FROM ({LATEST_CHECK}) o")
    if where:
        select += " WHERE " + " AND ".join(where)
    return PageSource(select, OPERATOR_COLUMNS, OPERATOR_SORTS.get(f.sort, "operator_id"), tuple(params))


def verification_counts_sql() -> str:
    """One row: operators total, enabled, verified, failing, unverified (the Overview's numbers)."""
    return f"""
        SELECT count(*), count(*) FILTER (WHERE contact_sync),
               count(*) FILTER (WHERE verification = 'verified'),
               count(*) FILTER (WHERE verification = 'failing'),
               count(*) FILTER (WHERE verification = 'unverified')
        FROM (SELECT *, {VERIFICATION_SQL} AS verification FROM ({LATEST_CHECK}) l) o"""


_AUDIT_SQL = f"""
    WITH history AS (
        SELECT operator_id, count(*) AS checks,
               count(*) FILTER (WHERE status NOT IN {VERIFIED_STATUSES}) AS failed_checks
        FROM operator_checks GROUP BY operator_id
    )
    SELECT o.operator_id, o.name, o.email, o.contact_sync, o.effective_backend AS backend,
           {VERIFICATION_SQL} AS verification,
           o.verify_status, o.verify_code, o.verify_detail, o.mailbox_address, o.verified_at,
           coalesce(o.mailbox_address IS NOT NULL AND lower(trim(o.mailbox_address)) <> lower(trim(o.email)),
                    false) OR coalesce(o.verify_code = 'EWS_EMAIL_MISMATCH', false) AS email_differs,
           coalesce(h.checks, 0) AS checks, coalesce(h.failed_checks, 0) AS failed_checks,
           m.failure_streak, m.last_error_code, m.last_success_at,
           o.updated_at, o.source
    FROM ({LATEST_CHECK}) o
    LEFT JOIN history h USING (operator_id)
    LEFT JOIN mailbox_state m USING (operator_id)
    ORDER BY o.operator_id
"""


def operator_audit(store: Store) -> pd.DataFrame:
    """Every operator: enabled?, verification state (verified/failing/unverified) and why.

    ``verification`` is about the mailbox: 'verified' when the latest check found it fine (status
    ``ok``, or ``sync-off`` = fine but the operator's contact sync was off at the time), 'failing'
    for any other status, 'unverified' when never checked.

    ``backend`` is the backend serving the mailbox (the operator's override, else the organisation's);
    ``title``/``remedy`` come from the failure catalogue for the latest check's code;
    ``email_differs`` is true when Exchange reported another primary address.
    """
    df = store.df(_AUDIT_SQL)
    df["contact_sync"] = df["contact_sync"].astype(bool)
    df["email_differs"] = df["email_differs"].astype(bool)
    return with_catalogue(df, "verify_code")


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


def backend_counts(store: Store) -> pd.DataFrame:
    """Operators per backend (every backend, zero included): total, enabled, and how many are pinned by an
    override rather than following the organisation's ``backend`` setting."""
    df = store.df(f"SELECT effective_backend AS backend, contact_sync, backend IS NOT NULL AS pinned "
                  f"FROM ({LATEST_CHECK}) o")
    rows = [(kind, int((df["backend"] == kind).sum()), int(((df["backend"] == kind) & df["contact_sync"]).sum()),
             int(((df["backend"] == kind) & df["pinned"]).sum())) for kind in BACKENDS]
    return pd.DataFrame(rows, columns=["backend", "operators", "enabled", "pinned"])


def failing_operators(store: Store, *, enabled_only: bool = False) -> pd.DataFrame:
    """Operators whose latest verification failed, with the catalogue's explanation; enabled ones first."""
    df = operator_audit(store)
    df = df[df["verification"] == Verification.FAILING]
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
