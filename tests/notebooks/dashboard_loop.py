"""A stand-in for the dashboard: opens the store per operation, reads through Store.df, writes a little.

    python dashboard_loop.py STORE STATUS_JSON STOP_FILE

Loops until STOP_FILE exists: each round reads what the overview shows (operators with their latest
check, recent runs, journal size) with ``Store.df`` on a fresh ``Store`` object, and every round writes
one small setting change (``failure_recipients`` toggled, source 'dashboard') the way the settings form
does. After each round it rewrites STATUS_JSON {rounds, reads, writes, changes, errors}. Exit 0 if no operation
failed, 1 otherwise.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.store import Store
from workbench.store.settings_table import update

READS = (
    "SELECT o.operator_id, o.contact_sync, c.status FROM operators o LEFT JOIN "
    "(SELECT * FROM operator_checks QUALIFY row_number() OVER (PARTITION BY operator_id "
    "ORDER BY checked_at DESC, check_id DESC) = 1) c USING (operator_id) ORDER BY o.operator_id",
    "SELECT run_id, started_at, status, done, failed FROM sync_runs ORDER BY run_id DESC LIMIT 5",
    "SELECT count(*) AS n FROM sync_log",
)
RECIPIENTS = ("sales-ops@example.com", "sales-ops@example.com;oncall@example.com")


def main(store_path: str, status_path: str, stop_path: str) -> int:
    status = {"rounds": 0, "reads": 0, "writes": 0, "changes": 0, "errors": []}
    stop = Path(stop_path)
    while not stop.exists():
        for sql in READS:
            try:
                Store(store_path).df(sql)
                status["reads"] += 1
            except WorkbenchError as exc:
                status["errors"].append(f"read: {exc}")
        try:
            changed = update(Store(store_path), {"failure_recipients": RECIPIENTS[status["rounds"] % 2]},
                             source="dashboard")
            status["writes"] += 1
            status["changes"] += len(changed)     # 0 when the value was already stored
        except WorkbenchError as exc:
            status["errors"].append(f"write: {exc}")
        status["rounds"] += 1
        tmp = Path(status_path + ".tmp")
        tmp.write_text(json.dumps(status))
        os.replace(tmp, status_path)
        time.sleep(0.02)
    return 0 if not status["errors"] else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
