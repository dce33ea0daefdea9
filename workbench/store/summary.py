"""Row counts per table: the store at a glance."""
from __future__ import annotations

from workbench.store import Store

TABLES = ("operators", "operator_checks", "contacts", "contact_team", "exchange_contacts", "links",
          "mailbox_state", "sync_runs", "sync_log", "notifications", "settings_changes", "sync_requests",
          "check_runs")


def store_summary(store: Store) -> dict[str, int]:
    sql = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in TABLES)
    return {name: int(n) for name, n in store.rows(sql)}
