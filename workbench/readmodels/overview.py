"""The Overview screen: settings health, operators, the latest runs, what needs attention, mailboxes."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from workbench.readmodels.catalogue import remedy_lines
from workbench.readmodels.journal import latest_runs
from workbench.readmodels.operators import verification_counts_sql
from workbench.store import Store
from workbench.store.operators_table import LATEST_CHECK
from workbench.store.vocabulary import ATTENTION_SQL


@dataclass
class Attention:
    code: str
    count: int
    where: str               # 'sync' or 'verification'
    title: str
    remedy: str
    cause: str = ""


@dataclass
class Overview:
    integration: bool
    settings_problems: list[str]
    operators_total: int
    operators_enabled: int
    operators_verified: int
    operators_failing: int
    operators_unverified: int
    runs: list[tuple]                     # RUN_COLUMNS order
    attention: list[Attention]
    mailboxes: int
    subscribed: int
    lapsed: int
    streaking: int
    last_notification_at: datetime | None
    last_success_at: datetime | None
    journal_rows: int
    last_check: dict[str, Any] | None = None
    cancelled: int = 0                    # mailboxes a person cancelled in the latest real run (not failures)
    backends: dict[str, int] = field(default_factory=dict)   # operators per backend serving them (none: left out)
    extras: dict[str, Any] = field(default_factory=dict)


def _last_check(store: Store) -> dict[str, Any] | None:
    """The latest stored `workbench check` run: ok, when, and the failed steps' codes."""
    from workbench.checks import last_check
    report = last_check(store)
    if report is None:
        return None
    return {"ok": report.ok, "checked_at": report.finished_at or report.started_at,
            "failed": [f"{s.step}: {s.code}" for s in report.failed],
            "warnings": [f"{s.step}: {s.code}" for s in report.steps if s.status == "warning"]}


def _attention(con: Any, last_real: int | None) -> list[Attention]:
    sync_fail = con.execute(f"""
        SELECT code, count(*) FROM sync_log
        WHERE run_id = ? AND {ATTENTION_SQL} AND code IS NOT NULL
        GROUP BY code ORDER BY count(*) DESC, code""", [last_real]).fetchall() if last_real else []
    check_fail = con.execute(f"""
        SELECT verify_code, count(*) FROM ({LATEST_CHECK}) o
        WHERE contact_sync AND verify_code IS NOT NULL
        GROUP BY verify_code ORDER BY count(*) DESC, verify_code""").fetchall()
    out = []
    for where, rows in (("verification", check_fail), ("sync", sync_fail)):
        for code, n in rows:
            title, cause, remedy = remedy_lines(code)
            out.append(Attention(code, int(n), where, title, remedy, cause))
    return out


def overview(store: Store, clock_now: datetime) -> Overview:
    from workbench.settings import SETTINGS, check_set
    from workbench.store.subscription_silence import SILENT_SQL, silent_before
    from workbench.store.settings_table import stored_values

    values = stored_values(store)
    problems = check_set(values)
    integration = SETTINGS["contact_integration"].parse(values["contact_integration"])
    freq = SETTINGS["notification_frequency_minutes"].parse(values["notification_frequency_minutes"])
    lapse_before = silent_before(clock_now, freq)
    with store.read() as con:
        ops = con.execute(verification_counts_sql()).fetchone()
        runs = latest_runs(con, 5)
        last_real = con.execute("SELECT max(run_id) FROM sync_runs WHERE NOT dry_run").fetchone()[0]
        attention = _attention(con, last_real)
        cancelled = con.execute("SELECT count(DISTINCT operator_id) FROM sync_log WHERE run_id = ? AND "
                                "action = 'mailbox' AND outcome = 'cancelled' AND code = 'SYNC_CANCELLED'",
                                [last_real]).fetchone()[0] if last_real else 0
        mb = con.execute(f"""
            SELECT count(*), count(subscription_id),
                   count(*) FILTER (WHERE subscription_id IS NOT NULL AND {SILENT_SQL}),
                   count(*) FILTER (WHERE failure_streak > 0),
                   max(last_notification_at), min(last_success_at)
            FROM mailbox_state""", [lapse_before]).fetchone()
        journal_rows = con.execute("SELECT count(*) FROM sync_log").fetchone()[0]
    return Overview(
        integration=bool(integration), settings_problems=problems,
        operators_total=ops[0], operators_enabled=ops[1], operators_verified=ops[2],
        operators_failing=ops[3], operators_unverified=ops[4], runs=runs, attention=attention,
        mailboxes=mb[0], subscribed=mb[1], lapsed=mb[2], streaking=mb[3],
        last_notification_at=mb[4], last_success_at=mb[5], journal_rows=int(journal_rows),
        last_check=_last_check(store), cancelled=int(cancelled), backends=_backends(store))


def _backends(store: Store) -> dict[str, int]:
    from workbench.readmodels.operators import backend_counts
    return {row.backend: int(row.operators) for row in backend_counts(store).itertuples() if row.operators}
