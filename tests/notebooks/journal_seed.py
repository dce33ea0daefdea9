"""A day of journal rows written straight into a store, for the health notebook without a sync engine."""
from __future__ import annotations

from datetime import datetime, timedelta

from workbench.store import Store

T0 = datetime(2024, 5, 6, 6, 0, 0)
OPERATORS = [f"OP-{i:03d}" for i in range(4, 10)]


def fill_journal(store: Store, *, runs: int = 12) -> dict:
    """``runs`` slot runs 30 minutes apart; every 4th is throttled, run 6 is cancelled at the deadline.

    Returns what the health notebook should report.
    """
    expected = {"runs": runs, "failures_by_code": {}, "throttled": 0, "batches": 0}
    log, run_rows, notes = [], [], []
    for run in range(1, runs + 1):
        start = T0 + timedelta(minutes=30 * run)
        status, done, failed, retries = "ok", 0, 0, 0
        for k, op in enumerate(OPERATORS):
            at = start + timedelta(seconds=10 * k)
            if run % 4 == 0 and k < 2:                       # throttled, retried after the hint
                log.append((run, at, op, None, "retry", "retried", "EWS_THROTTLED", None, None, 2.0))
                retries += 1
                expected["throttled"] += 1
            if run == 6 and k == 0:                          # throttled until the deadline
                log.append((run, at, op, None, "cancel", "cancelled", "SYNC_DEADLINE", None, None, None))
                notes.append((at, run, op))
                failed += 1
                status = "partial"
                expected["failures_by_code"]["SYNC_DEADLINE"] = expected["failures_by_code"].get("SYNC_DEADLINE", 0) + 1
                continue
            for batch in (1, 2):
                items = 50 if batch == 1 else 10 + k
                log.append((run, at, op, None, "batch", "ok", None, batch, items, 0.5 + 0.1 * k))
                done += items
                expected["batches"] += 1
            if k == 3 and run % 3 == 0:
                log.append((run, at, op, f"CRM-{run:06d}", "update-exchange", "failed", "EWS_ITEM_REJECTED",
                            None, None, None))
                failed += 1
                status = "partial"
                expected["failures_by_code"]["EWS_ITEM_REJECTED"] = \
                    expected["failures_by_code"].get("EWS_ITEM_REJECTED", 0) + 1
        run_rows.append((run, start, start + timedelta(minutes=2), "slot", False, status, len(OPERATORS),
                         done + failed, done, failed, 2 * len(OPERATORS) + retries, retries))
    with store.write() as con:
        con.executemany("INSERT INTO operators VALUES (?, ?, ?, true, ?, 'test')",
                        [(op, f"Operator {op}", f"{op.lower()}@example.com", T0) for op in OPERATORS])
        con.executemany(
            "INSERT INTO sync_runs (run_id, started_at, finished_at, trigger, dry_run, status, operators, planned, "
            "done, failed, requests, retries) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", run_rows)
        con.executemany(
            "INSERT INTO sync_log (run_id, logged_at, operator_id, contact_id, action, outcome, code, batch_no, "
            "items, seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", log)
        con.executemany(
            "INSERT INTO notifications (sent_at, run_id, operator_id, recipients, subject, code, body, status) "
            "VALUES (?, ?, ?, 'ops@example.com', 'contact sync cancelled', 'SYNC_DEADLINE', 'see journal', 'sent')",
            notes)
    expected["failing_operators"] = sorted({r[2] for r in log if r[5] in ("failed", "cancelled")})
    return expected
