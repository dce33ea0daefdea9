"""Deterministic stores for the dashboard tests: committed demo data, fixed timestamps.

Operators, contacts and settings go in through the same services the CLI uses;
the journal (runs, log, notifications, verification history, mailbox state)
is written with fixed times so that every snapshot is stable.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from textual.worker import WorkerCancelled, WorkerFailed

from workbench.contacts_import import import_contacts
from workbench.operators.csv_import import import_operators
from workbench.store import Store
from workbench.store.settings_table import update

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
FROZEN = datetime(2026, 3, 2, 9, 30, 0)

SETTINGS = {
    "contact_integration": "true",
    "exchange_url": "https://exchange.example.com/EWS/Exchange.asmx",
    "notification_url": "https://workbench.example.com/ews/notify",
    "failure_recipients": "ops@example.com;crm-admins@example.com",
    "impersonation_account": "svc-crm-sync@example.com",
    "keystore_path": "missing-keystore.jks",
}

FAILED_CHECKS = {
    "OP-001": ("email-mismatch", "EWS_EMAIL_MISMATCH", "jose.dubois1@example.com",
               "e-mail is an alias; primary address jose.dubois1@example.com"),
    "OP-002": ("mailbox-not-found", "EWS_MAILBOX_NOT_FOUND", None, "no mailbox for departed.user2@example.com"),
    "OP-003": ("impersonation-denied", "EWS_IMPERSONATION_DENIED", None,
               "svc-crm-sync@example.com may not impersonate this mailbox"),
}


def freeze_timestamps(store: Store) -> None:
    with store.write() as con:
        con.execute("UPDATE operators SET updated_at = ?", [FROZEN - timedelta(days=3)])
        con.execute("UPDATE settings SET updated_at = ?", [FROZEN - timedelta(days=3)])
        con.execute("UPDATE settings_changes SET changed_at = ?", [FROZEN - timedelta(days=3)])
        con.execute("UPDATE contacts SET updated_at = ? WHERE updated_at > ?", [FROZEN - timedelta(days=4), FROZEN])


def base_store(path: Path, *, settings: dict[str, str] | None = None) -> Store:
    """Settings, operators and contacts from data/ through the services; no journal."""
    store = Store(path)
    update(store, dict(SETTINGS if settings is None else settings), source="test")
    import_operators(store, DATA / "operators.csv")
    import_contacts(store, DATA / "contacts.csv")
    freeze_timestamps(store)
    return store


def journal_store(path: Path) -> Store:
    """``base_store`` plus a fixed history: verification, three runs, failures, a notification."""
    store = base_store(path)
    t0 = FROZEN - timedelta(hours=2)
    with store.write() as con:
        ops = [r[0] for r in con.execute(
            "SELECT operator_id FROM operators WHERE contact_sync ORDER BY operator_id").fetchall()]
        for i, op in enumerate(ops):
            status, code, address, detail = FAILED_CHECKS.get(op, ("ok", None, f"{op.lower()}@example.com", None))
            con.execute("INSERT INTO operator_checks (operator_id, checked_at, status, code, mailbox_address, detail) "
                        "VALUES (?, ?, ?, ?, ?, ?)", [op, t0 + timedelta(seconds=i), status, code, address, detail])
        good = [op for op in ops if op not in FAILED_CHECKS]
        runs = [(1, t0 + timedelta(minutes=5), "cli", True, "ok", len(good), 120, 0, 0),
                (2, t0 + timedelta(minutes=10), "dashboard", False, "ok", len(good), 120, 120, 0),
                (3, FROZEN - timedelta(minutes=20), "slot", False, "partial", len(good), 14, 11, 3)]
        for run_id, started, trigger, dry, status, nops, planned, done, failed in runs:
            con.execute("INSERT INTO sync_runs (run_id, started_at, finished_at, trigger, dry_run, status, operators, "
                        "planned, done, failed, requests, retries, backends) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        [run_id, started, started + timedelta(seconds=42), trigger, dry, status, nops, planned,
                         done, failed, 12, 1, "ews+graph" if run_id == 3 else "ews"])
        log_id = 0
        for run_id, started, *_rest in runs:
            planned = _rest[4]
            for n in range(planned):
                log_id += 1
                op = good[n % len(good)]
                outcome = "planned" if run_id == 1 else "ok"
                action = ("create-exchange", "update-exchange", "update-crm", "conflict")[n % 4]
                code = detail = None
                if run_id == 3 and n < 3:
                    outcome = "failed"
                    code, detail = (("EWS_ITEM_REJECTED", "Exchange: ErrorInvalidPropertyValue on EmailAddress1"),
                                    ("CRM_VALIDATION", "contact has neither given name nor surname"),
                                    ("EWS_THROTTLED", "ErrorServerBusy; back-off 3 s; deadline reached"))[n]
                con.execute("INSERT INTO sync_log (log_id, run_id, logged_at, operator_id, contact_id, item_id, action, "
                            "outcome, code, detail) VALUES (?,?,?,?,?,?,?,?,?,?)",
                            [log_id, run_id, started + timedelta(seconds=n), op, f"CRM-{n + 1:06d}", f"item-{log_id}",
                             action, outcome, code, detail])
            log_id += 1
            con.execute("INSERT INTO sync_log (log_id, run_id, logged_at, operator_id, action, outcome, batch_no, items, "
                        "seconds) VALUES (?,?,?,?,?,?,?,?,?)",
                        [log_id, run_id, started + timedelta(seconds=40), good[0], "batch", "ok", 1, planned, 1.25])
        con.execute("INSERT INTO notifications (notification_id, sent_at, run_id, operator_id, recipients, subject, code, "
                    "body, status) VALUES (1, ?, 3, ?, ?, ?, 'EWS_THROTTLED', 'see journal', 'sent')",
                    [FROZEN - timedelta(minutes=19), good[2], SETTINGS["failure_recipients"],
                     f"Contact sync failed for {good[2]}: EWS_THROTTLED"])
        for i, op in enumerate(good):
            con.execute("INSERT INTO mailbox_state (operator_id, mailbox_address, subscription_id, subscribed_at, "
                        "last_notification_at, last_sync_at, last_success_at, failure_streak, last_error_code, "
                        "next_slot_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                        [op, f"{op.lower()}@example.com", f"sub-{i}", t0,
                         FROZEN - timedelta(minutes=3 if i else 95), FROZEN - timedelta(minutes=20),
                         FROZEN - timedelta(minutes=20 if i != 2 else 140), 2 if i == 2 else 0,
                         "EWS_THROTTLED" if i == 2 else None, FROZEN + timedelta(minutes=10)])
    return store


async def settle(pilot, rounds: int = 20) -> None:
    """Wait until workers are done and the messages they posted are handled (no sleeping).

    Handlers may start new workers (a dismissed dialog's callback, a page reload), so
    the app counts as settled after three consecutive idle rounds.
    """
    app = pilot.app
    idle = 0
    for _ in range(rounds):
        try:
            await app.workers.wait_for_complete()
        except (WorkerCancelled, WorkerFailed):
            pass    # superseded exclusive workers are normal; failures reach the user as toasts, which tests check
        await pilot.pause()
        idle = idle + 1 if not any(w.is_running or w.state.name == "PENDING" for w in app.workers) else 0
        if idle >= 3:
            return


async def until(pilot, condition, rounds: int = 3000) -> None:
    """Let the app run until ``condition()`` holds (bounded: ~30 s of 10 ms pauses; not a timing assertion)."""
    for _ in range(rounds):
        if condition():
            return
        await pilot.pause(0.01)
    raise AssertionError("condition never held")


def shown(widget) -> str:
    """The text a widget shows now, line by line, as a user reads it on the screen."""
    from textual.geometry import Region
    return "\n".join(line.text for line in widget.render_lines(Region(0, 0, *widget.size)))


def aio(fn):
    """Run an async test with asyncio.run (no async pytest plugin is installed)."""
    import asyncio
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))
    return wrapper
