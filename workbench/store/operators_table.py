"""Operators and their verification history."""
from __future__ import annotations

from typing import Iterable

import pandas as pd

from workbench.errors import WorkbenchError

from workbench.store import Store
from workbench.store.settings_table import effective_backend_sql

# A verified mailbox answered as it should: ``ok``, or ``sync-off`` (the mailbox is fine, only the
# operator's contact_sync flag was off when it was checked).
VERIFIED_STATUSES = ("ok", "sync-off")
VERIFIED_SQL = f"verify_status IN {VERIFIED_STATUSES}"
#: an operator's verification state (``vocabulary.Verification``) over a LATEST_CHECK row
VERIFICATION_SQL = (f"CASE WHEN verify_status IS NULL THEN 'unverified' WHEN {VERIFIED_SQL} THEN 'verified' "
                    "ELSE 'failing' END")

#: ``backend`` is the operator's override (NULL: none), ``effective_backend`` the one serving its mailbox
LATEST_CHECK = f"""
    SELECT o.operator_id, o.name, o.email, o.contact_sync, o.updated_at, o.source, b.backend,
           {effective_backend_sql()} AS effective_backend,
           c.status AS verify_status, c.code AS verify_code, c.mailbox_address, c.checked_at AS verified_at,
           c.detail AS verify_detail,
           (c.checked_at IS NOT NULL AND c.checked_at < o.updated_at) AS verify_stale
    FROM operators o
    LEFT JOIN (
        SELECT * FROM operator_checks
        QUALIFY row_number() OVER (PARTITION BY operator_id ORDER BY checked_at DESC, check_id DESC) = 1
    ) c USING (operator_id)
    LEFT JOIN operator_backends b USING (operator_id)
"""

# The mailbox address an operator syncs, for every operator (the planner and the agent use this, nothing else):
# the address the latest check *that found one* reported, else the operator's e-mail. A check that could not
# reach the mailbox (unreachable, mailbox-not-found) found no address and says nothing about which mailbox it
# is; for an alias e-mail the address found is the primary one, which impersonation works on.
SYNC_MAILBOX = """
    SELECT o.operator_id, coalesce(chk.mailbox_address, o.email) AS mailbox
    FROM operators o
    LEFT JOIN (
        SELECT operator_id, mailbox_address FROM operator_checks WHERE mailbox_address IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY operator_id ORDER BY checked_at DESC, check_id DESC) = 1
    ) chk USING (operator_id)
"""


def operators_df(store: Store, *, enabled: bool | None = None, unverified: bool = False) -> pd.DataFrame:
    """Operators with their latest verification; filters as `operators list` offers them.

    ``unverified``: never checked, last check not verified, or the operator changed since (verify_stale).
    """
    where = []
    if enabled is not None:
        where.append("contact_sync" if enabled else "NOT contact_sync")
    if unverified:
        where.append(f"(verify_status IS NULL OR NOT {VERIFIED_SQL} OR verify_stale)")
    sql = f"SELECT * FROM ({LATEST_CHECK}) q"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return store.df(sql + " ORDER BY operator_id")


def known_ids(store: Store) -> set[str]:
    return {r[0] for r in store.rows("SELECT operator_id FROM operators")}


def require_known(store: Store, operator_ids: Iterable[str]) -> None:
    """OPERATOR_NOT_FOUND naming every id that is not in the store."""
    unknown = sorted(set(operator_ids) - known_ids(store))
    if unknown:
        raise WorkbenchError("OPERATOR_NOT_FOUND", f"operator id(s) {', '.join(unknown)} not in the store")


def record_checks(store: Store, checks) -> int:
    """Append verification results (objects with operator_id, checked_at, status, code, mailbox_address,
    detail) to operator_checks in one transaction."""
    rows = [(c.operator_id, c.checked_at, c.status, c.code, c.mailbox_address, c.detail) for c in checks]
    if not rows:
        return 0
    with store.write() as con:
        con.executemany("INSERT INTO operator_checks (operator_id, checked_at, status, code, mailbox_address, detail) "
                        "VALUES (?, ?, ?, ?, ?, ?)", rows)
    return len(rows)


def operators_for_verify(store: Store, ids: list[str] | None) -> list[tuple[str, str, bool]]:
    """(operator_id, email, contact_sync) of the given ids (all must exist), or of every operator with
    contact sync on."""
    if ids:
        wanted = list(dict.fromkeys(ids))
        ph = ", ".join("?" for _ in wanted)
        found = {r[0]: r for r in store.rows(
            f"SELECT operator_id, email, contact_sync FROM operators WHERE operator_id IN ({ph})", wanted)}
        missing = [i for i in wanted if i not in found]
        if missing:
            from workbench.errors import WorkbenchError
            raise WorkbenchError("OPERATOR_NOT_FOUND", f"unknown operator id(s): {', '.join(missing)}")
        return [found[i] for i in wanted]
    return store.rows("SELECT operator_id, email, contact_sync FROM operators WHERE contact_sync ORDER BY operator_id")
