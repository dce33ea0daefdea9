"""Read models for the dashboard: what each screen shows, as plain data.

Headless on purpose (no textual import; a test checks it): the screens call
these functions from worker threads and render the results. Nothing here
decides anything about the sync; it only reads the store through the same
``workbench.store`` helpers the CLI and the notebooks use.

Large tables are never loaded whole: ``PageSource`` describes one query and
fetches one page with LIMIT/OFFSET plus a count, so a 100,000-row journal
costs one page of rows per screen.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from workbench.errors import CATALOGUE, WorkbenchError
from workbench.store import Store
from workbench.store.operators_table import FAILED_OUTCOMES_SQL, LATEST_CHECK, VERIFIED_SQL

Clock = Callable[[], datetime]


# --- formatting shared by screens -------------------------------------------------

def fmt_time(value: Any) -> str:
    if value is None or value != value:  # None or NaT/NaN
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def fmt_ago(value: Any, clock_now: datetime) -> str:
    """'3m ago' relative to the injected clock (so frozen time gives fixed text)."""
    if value is None or value != value or not isinstance(value, datetime):
        return "never"
    seconds = int((clock_now - value).total_seconds())
    if seconds < 0:
        return "in " + _span(-seconds)
    return _span(seconds) + " ago"


def _span(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    return f"{seconds // 86400}d"


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if value != value:
            return ""
        return f"{value:.2f}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return fmt_time(value)
    return str(value)


def error_headline(exc: BaseException) -> str:
    """`CODE: title — remedy` for a WorkbenchError; a short line for anything else."""
    if isinstance(exc, WorkbenchError):
        return exc.headline()
    from workbench.secrets import redact
    return f"INTERNAL: unexpected {type(exc).__name__} — {redact(str(exc))}"


def remedy_lines(code: str | None) -> tuple[str, str, str]:
    """(title, cause, remedy) from the failure catalogue, blanks for an unknown code."""
    failure = CATALOGUE.get(code or "")
    if failure is None:
        return ("", "", "")
    return (failure.title, failure.cause, failure.remedy)


# --- paging -------------------------------------------------------------------------

@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int | None = None


@dataclass(frozen=True)
class Page:
    offset: int
    total: int
    rows: list[tuple]        # first value of each row is its stable key


@dataclass(frozen=True)
class PageSource:
    """One SELECT (without ORDER BY/LIMIT) shown a page at a time.

    ``select`` must return ``key`` first and then the columns in order.
    """
    select: str
    columns: tuple[Column, ...]
    order_by: str
    params: tuple = ()

    def count(self, store: Store) -> int:
        return int(store.scalar(f"SELECT count(*) FROM ({self.select}) q", list(self.params)) or 0)

    def page(self, store: Store, offset: int, limit: int) -> Page:
        with store.read() as con:
            total = con.execute(f"SELECT count(*) FROM ({self.select}) q", list(self.params)).fetchone()[0]
            offset = max(0, min(offset, max(0, (total - 1) // limit * limit)))
            rows = con.execute(f"SELECT * FROM ({self.select}) q ORDER BY {self.order_by} LIMIT ? OFFSET ?",
                               [*self.params, limit, offset]).fetchall()
        return Page(offset, int(total), rows)


# --- operators ----------------------------------------------------------------------

OPERATOR_COLUMNS = (
    Column("operator_id", "Operator", 10),
    Column("name", "Name", 20),
    Column("email", "E-mail", 30),
    Column("contact_sync", "Sync", 4),
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
        where.append(f"(verify_status IS NULL OR NOT {VERIFIED_SQL})")
    select = (f"SELECT operator_id AS key, operator_id, name, email, contact_sync, "
              f"CASE WHEN verify_status IS NULL THEN 'unverified' "
              f"     WHEN verify_code IS NULL THEN verify_status "
              f"     ELSE verify_status || ' (' || verify_code || ')' END AS verify_status, verified_at "
              f"FROM ({LATEST_CHECK}) o")
    if where:
        select += " WHERE " + " AND ".join(where)
    return PageSource(select, OPERATOR_COLUMNS, OPERATOR_SORTS.get(f.sort, "operator_id"), tuple(params))


# --- journal ------------------------------------------------------------------------

JOURNAL_COLUMNS = (
    Column("log_id", "#", 6),
    Column("run_id", "Run", 3),
    Column("logged_at", "Time", 19),
    Column("operator_id", "Operator", 8),
    Column("contact_id", "Contact", 10),
    Column("action", "Action", 15),
    Column("outcome", "Outcome", 7),
    Column("code", "Code", 17),
    Column("detail", "Detail", None),
)


@dataclass(frozen=True)
class JournalFilter:
    run_id: int | None = None
    operator_id: str = ""
    failed_only: bool = False


def journal_source(f: JournalFilter) -> PageSource:
    where, params = [], []
    if f.run_id is not None:
        where.append("run_id = ?")
        params.append(f.run_id)
    if f.operator_id.strip():
        where.append("operator_id = ?")
        params.append(f.operator_id.strip())
    if f.failed_only:
        where.append(FAILED_OUTCOMES_SQL)
    select = ("SELECT log_id AS key, log_id, run_id, logged_at, operator_id, contact_id, action, outcome, "
              "code, detail FROM sync_log")
    if where:
        select += " WHERE " + " AND ".join(where)
    return PageSource(select, JOURNAL_COLUMNS, "log_id DESC", tuple(params))


def journal_entry(store: Store, log_id: int) -> dict[str, Any] | None:
    df = store.df("SELECT * FROM sync_log WHERE log_id = ?", [log_id])
    if df.empty:
        return None
    return df.astype(object).where(df.notna(), None).to_dict(orient="records")[0]


NOTIFICATION_COLUMNS = (
    Column("notification_id", "#", 4),
    Column("sent_at", "Sent", 19),
    Column("run_id", "Run", 4),
    Column("operator_id", "Operator", 8),
    Column("recipients", "To", 28),
    Column("code", "Code", 18),
    Column("status", "Status", 6),
    Column("subject", "Subject", 40),
)


def notifications_source() -> PageSource:
    return PageSource("SELECT notification_id AS key, notification_id, sent_at, run_id, operator_id, recipients, "
                      "code, status, subject FROM notifications", NOTIFICATION_COLUMNS, "notification_id DESC")


RUN_COLUMNS = (
    Column("run_id", "Run", 4),
    Column("started_at", "Started", 19),
    Column("trigger", "Trigger", 9),
    Column("dry_run", "Dry", 3),
    Column("status", "Status", 9),
    Column("operators", "Ops", 4),
    Column("planned", "Planned", 7),
    Column("done", "Done", 6),
    Column("failed", "Failed", 6),
)


def runs_source() -> PageSource:
    return PageSource("SELECT run_id AS key, run_id, started_at, trigger, dry_run, status, operators, planned, "
                      "done, failed FROM sync_runs", RUN_COLUMNS, "run_id DESC")


# --- a sync run as it happens ---------------------------------------------------------

@dataclass
class LiveRun:
    run_id: int | None
    status: str
    mailboxes: list[tuple]       # operator_id, planned, done, failed, state, last event
    journal: list[tuple]         # log_id, operator_id, contact_id, action, outcome, code, detail


def live_run(store: Store, *, trigger: str | None = None, journal_rows: int = 12) -> LiveRun:
    """The latest run (of ``trigger`` if given) read from the journal the engine commits per batch."""
    from workbench.sync.plan import WRITE_ACTIONS
    writes = "(" + ", ".join(f"'{a}'" for a in WRITE_ACTIONS) + ")"
    with store.read() as con:
        where = "WHERE trigger = ?" if trigger else ""
        row = con.execute(f"SELECT run_id, status FROM sync_runs {where} ORDER BY run_id DESC LIMIT 1",
                          [trigger] if trigger else []).fetchone()
        if row is None:
            return LiveRun(None, "", [], [])
        run_id, status = row
        boxes = con.execute(f"""
            SELECT operator_id,
                   count(*) FILTER (WHERE outcome = 'planned' AND action IN {writes}),
                   count(*) FILTER (WHERE outcome = 'ok' AND action IN {writes}),
                   count(*) FILTER (WHERE outcome = 'failed' AND action IN {writes}),
                   CASE WHEN bool_or(action = 'mailbox' AND outcome = 'cancelled') THEN 'cancelled'
                        WHEN bool_or(action = 'mailbox' AND outcome = 'failed') THEN 'failed'
                        ELSE '' END,
                   arg_max(coalesce(code || ' ', '') || coalesce(detail, action || ' ' || outcome), log_id)
            FROM sync_log WHERE run_id = ? AND operator_id IS NOT NULL
            GROUP BY operator_id ORDER BY operator_id""", [run_id]).fetchall()
        journal = con.execute("""
            SELECT log_id, operator_id, contact_id, action, outcome, code, detail FROM sync_log
            WHERE run_id = ? ORDER BY log_id DESC LIMIT ?""", [run_id, journal_rows]).fetchall()
    return LiveRun(int(run_id), status, boxes, journal)


# --- overview -----------------------------------------------------------------------

@dataclass
class Attention:
    code: str
    count: int
    where: str               # 'sync' or 'verification'
    title: str
    remedy: str


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


def overview(store: Store, clock_now: datetime) -> Overview:
    from workbench.settings import SETTINGS, check_set
    from workbench.store.settings_table import stored_values

    values = stored_values(store)
    problems = check_set(values)
    integration = SETTINGS["contact_integration"].parse(values["contact_integration"])
    freq = SETTINGS["notification_frequency_minutes"].parse(values["notification_frequency_minutes"])
    from workbench.store.subscription_silence import SILENT_SQL, silent_before
    lapse_before = silent_before(clock_now, freq)
    with store.read() as con:
        ops = con.execute(f"""
            SELECT count(*), count(*) FILTER (WHERE contact_sync),
                   count(*) FILTER (WHERE {VERIFIED_SQL}),
                   count(*) FILTER (WHERE verify_status IS NOT NULL AND NOT {VERIFIED_SQL}),
                   count(*) FILTER (WHERE verify_status IS NULL)
            FROM ({LATEST_CHECK}) o""").fetchone()
        runs = con.execute("SELECT run_id, started_at, trigger, dry_run, status, operators, planned, done, failed "
                           "FROM sync_runs ORDER BY run_id DESC LIMIT 5").fetchall()
        last_real = con.execute("SELECT max(run_id) FROM sync_runs WHERE NOT dry_run").fetchone()[0]
        sync_fail = con.execute(f"""
            SELECT code, count(*) FROM sync_log
            WHERE run_id = ? AND {FAILED_OUTCOMES_SQL} AND code IS NOT NULL
            GROUP BY code ORDER BY count(*) DESC, code""", [last_real]).fetchall() if last_real else []
        check_fail = con.execute(f"""
            SELECT verify_code, count(*) FROM ({LATEST_CHECK}) o
            WHERE contact_sync AND verify_code IS NOT NULL
            GROUP BY verify_code ORDER BY count(*) DESC, verify_code""").fetchall()
        mb = con.execute(f"""
            SELECT count(*), count(subscription_id),
                   count(*) FILTER (WHERE subscription_id IS NOT NULL AND {SILENT_SQL}),
                   count(*) FILTER (WHERE failure_streak > 0),
                   max(last_notification_at), min(last_success_at)
            FROM mailbox_state""", [lapse_before]).fetchone()
        journal_rows = con.execute("SELECT count(*) FROM sync_log").fetchone()[0]
    attention = []
    for where, rows in (("verification", check_fail), ("sync", sync_fail)):
        for code, n in rows:
            title, _cause, remedy = remedy_lines(code)
            attention.append(Attention(code, int(n), where, title, remedy))
    return Overview(
        integration=bool(integration), settings_problems=problems,
        operators_total=ops[0], operators_enabled=ops[1], operators_verified=ops[2],
        operators_failing=ops[3], operators_unverified=ops[4], runs=runs, attention=attention,
        mailboxes=mb[0], subscribed=mb[1], lapsed=mb[2], streaking=mb[3],
        last_notification_at=mb[4], last_success_at=mb[5], journal_rows=int(journal_rows),
        last_check=_last_check(store))


# --- settings -----------------------------------------------------------------------

@dataclass(frozen=True)
class SettingRow:
    key: str
    value: str
    default: str
    rule: str
    help: str
    required: bool
    choices: tuple[str, ...] = ()


def setting_choices() -> dict[str, tuple[str, ...]]:
    """Settings whose rule is a closed list: the form offers a select for them."""
    from workbench.settings import CONFLICT_POLICIES, DELETE_TARGETS, DIRECTIONS, EXCHANGE_VERSIONS
    return {"contact_integration": ("true", "false"), "include_private": ("true", "false"),
            "sync_direction": DIRECTIONS, "exchange_version": EXCHANGE_VERSIONS,
            "conflict_policy": CONFLICT_POLICIES, "slot_size_minutes": ("15", "30"), "delete_to": DELETE_TARGETS}


def settings_rows(store: Store) -> list[SettingRow]:
    from workbench.settings import SETTINGS
    from workbench.store.settings_table import stored_values
    choices = setting_choices()
    values = stored_values(store)
    return [SettingRow(k, values[k], s.default, s.rule, s.help, s.required, tuple(choices.get(k, ())))
            for k, s in SETTINGS.items()]


def field_problem(key: str, text: str) -> str | None:
    """The inline message for one field: None when the value is acceptable."""
    from workbench.settings import SETTINGS, RuleBroken
    try:
        SETTINGS[key].parse(text)
    except RuleBroken as exc:
        return f"must be {exc}"
    return None

