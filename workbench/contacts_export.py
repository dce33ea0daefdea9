"""Export CRM contacts as the CSV `contacts import` reads (``contacts_import.COLUMNS``), formula-safe.

The file feeds the CRM's own data import (a template mapping each column to a contact field), so changes
that arrived from Exchange go back to the CRM. ``changed_since=RUN``: only the contacts a sync wrote from
Exchange (create-crm, update-crm, unlink-crm) in run RUN or later; ``source="exchange"``: every contact a
sync ever wrote from Exchange. Deleted CRM contacts are never exported. Values starting with = + - @ (or ')
get a leading single quote (``csvio.neutralise``); the import strips it again, so a round trip is exact.
"""
from __future__ import annotations

from pathlib import Path

from workbench.contacts_import import COLUMNS
from workbench.csvio import check_writable, write_csv
from workbench.errors import WorkbenchError
from workbench.fields import CONTACT_FIELDS
from workbench.store import Store

FROM_EXCHANGE = ("create-crm", "update-crm", "unlink-crm")
SOURCES = ("all", "exchange")


def _sql(where: str) -> str:
    return f"""
    SELECT c.contact_id, {', '.join('c.' + f for f in CONTACT_FIELDS)}, c.private,
           coalesce((SELECT string_agg(operator_id, ';' ORDER BY operator_id) FROM contact_team t
                     WHERE t.contact_id = c.contact_id), '') AS team,
           strftime(c.updated_at, '%Y-%m-%dT%H:%M:%S.%f') AS updated_at
    FROM contacts c WHERE c.deleted_at IS NULL {where} ORDER BY c.contact_id
    """


def export_contacts(store: Store, path: str | Path, *, changed_since: int | None = None,
                    source: str = "all") -> int:
    """Write the contacts to ``path`` (atomically); returns the number of rows."""
    if source not in SOURCES:
        raise WorkbenchError("USAGE", f"--source {source!r}: must be one of {', '.join(SOURCES)}")
    path = check_writable(path)
    where, params = "", []
    if changed_since is not None:
        if store.scalar("SELECT count(*) FROM sync_runs WHERE run_id = ?", [changed_since]) == 0:
            raise WorkbenchError("RUN_NOT_FOUND", f"--changed-since {changed_since}: no such sync run")
    if changed_since is not None or source == "exchange":
        actions = ", ".join(f"'{a}'" for a in FROM_EXCHANGE)
        where = (f"AND c.contact_id IN (SELECT contact_id FROM sync_log WHERE outcome = 'ok' AND action IN ({actions})"
                 + (" AND run_id >= ?" if changed_since is not None else "") + ")")
        params = [changed_since] if changed_since is not None else []
    rows = store.rows(_sql(where), params)
    return write_csv(path, COLUMNS, rows)
