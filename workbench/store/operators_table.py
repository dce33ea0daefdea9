"""Operators and their verification history."""
from __future__ import annotations

import pandas as pd

from workbench.store import Store

_LATEST_CHECK = """
    SELECT o.operator_id, o.name, o.email, o.contact_sync, o.updated_at, o.source,
           c.status AS verify_status, c.code AS verify_code, c.mailbox_address, c.checked_at AS verified_at
    FROM operators o
    LEFT JOIN (
        SELECT * FROM operator_checks
        QUALIFY row_number() OVER (PARTITION BY operator_id ORDER BY checked_at DESC, check_id DESC) = 1
    ) c USING (operator_id)
"""


def operators_df(store: Store, *, enabled: bool | None = None, unverified: bool = False) -> pd.DataFrame:
    """Operators with their latest verification; filters as `operators list` offers them."""
    where = []
    if enabled is not None:
        where.append("contact_sync" if enabled else "NOT contact_sync")
    if unverified:
        where.append("(verify_status IS NULL OR verify_status <> 'ok')")
    sql = f"SELECT * FROM ({_LATEST_CHECK}) q"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return store.df(sql + " ORDER BY operator_id")


def known_ids(store: Store) -> set[str]:
    return {r[0] for r in store.rows("SELECT operator_id FROM operators")}
