"""`workbench check`: the seed's set-up as a checklist run against the configured server.

Steps, in order (each ok / warning / failed / skipped, failures with a catalogue code):

  settings       the stored set is valid (``settings.check_set``)
  endpoint       a TCP connection to the host and port of exchange_url
  keystore       the keystore opens with its password and holds a trusted certificate
  tls            the server's certificate verifies against exactly the keystore (and is not expired)
  credentials    an NTLM-authenticated EWS request with impersonation_account succeeds
  version        the server reports the Exchange version set in exchange_version
  impersonation  one enabled operator's mailbox (or the one given) opens through impersonation
  listener       notification_url is well-formed; something listens there (a warning when
                 nothing does, a failure when the agent's state says it runs)

A run is stored (``check_runs`` + ``check_steps``) so the dashboard can show the last result.
No printing here; the CLI and the dashboard render ``CheckReport``.
"""
from __future__ import annotations

import datetime as dt
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlsplit

from workbench.errors import CATALOGUE, WorkbenchError
from workbench.store import Store, now

STEPS = ("settings", "endpoint", "keystore", "tls", "credentials", "version", "impersonation", "listener")
TITLES = {
    "settings": "settings valid",
    "endpoint": "endpoint reachable",
    "keystore": "keystore opens",
    "tls": "TLS trusted by the keystore",
    "credentials": "credentials accepted",
    "version": "server version as configured",
    "impersonation": "impersonation works",
    "listener": "notification listener",
    # backend=graph (workbench/checks_graph.py)
    "token": "app token acquired",
    "roles": "application permissions granted",
    "mailbox": "operator mailbox reachable and in scope",
}
CERT_WARNING_DAYS = 14
CONNECT_TIMEOUT = 5.0


@dataclass
class StepResult:
    step: str
    status: str                    # ok, warning, failed, skipped
    detail: str = ""
    code: str | None = None
    seconds: float = 0.0

    @property
    def title(self) -> str:
        return TITLES.get(self.step, self.step)

    @property
    def passed(self) -> bool:
        return self.status in ("ok", "warning")

    @property
    def remedy(self) -> str:
        return CATALOGUE[self.code].remedy if self.code in CATALOGUE else ""

    @property
    def code_title(self) -> str:
        return CATALOGUE[self.code].title if self.code in CATALOGUE else ""

    def as_dict(self) -> dict[str, Any]:
        return {"step": self.step, "title": self.title, "status": self.status, "code": self.code,
                "code_title": self.code_title or None, "remedy": self.remedy or None, "detail": self.detail,
                "seconds": round(self.seconds, 3)}


@dataclass
class CheckReport:
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    operator_id: str | None = None
    exchange_url: str = ""
    steps: list[StepResult] = field(default_factory=list)
    run_id: int | None = None

    @property
    def ok(self) -> bool:
        return all(s.passed for s in self.steps)

    @property
    def failed(self) -> list[StepResult]:
        return [s for s in self.steps if s.status == "failed"]

    def step(self, name: str) -> StepResult:
        return next(s for s in self.steps if s.step == name)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "run_id": self.run_id, "started_at": self.started_at,
                "finished_at": self.finished_at, "operator_id": self.operator_id,
                "exchange_url": self.exchange_url, "steps": [s.as_dict() for s in self.steps]}


class _Fail(Exception):
    def __init__(self, code: str, detail: str, status: str = "failed") -> None:
        super().__init__(detail)
        self.code, self.detail, self.status = code, detail, status


def _tcp(host: str, port: int, timeout: float) -> str | None:
    """None when a TCP connection opens, else the reason."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return exc.strerror or str(exc) or type(exc).__name__


def _agent_running(store: Store, frequency_minutes: int) -> bool:
    """The agent counts as running while one of its subscriptions is not silent."""
    from workbench.store.subscription_silence import SILENT_SQL, silent_before
    try:
        return bool(store.scalar(f"SELECT count(*) FROM mailbox_state WHERE subscription_id IS NOT NULL "
                                 f"AND NOT {SILENT_SQL}", [silent_before(now(), frequency_minutes)]))
    except Exception:
        return False


def _version_verdict(v: Any, today: dt.date) -> tuple[str, str] | str:
    """The version step: the generation the server reports, against the setting and Microsoft's support dates."""
    from workbench.exchange.versions import GENERATIONS, out_of_support
    generation = GENERATIONS.get(v.reported)
    found = f"{v.reported} ({generation.product})" if generation else v.reported
    if not v.matches:
        raise _Fail("EWS_VERSION_MISMATCH", f"server reports {found}, build {v.build}; "
                                            f"exchange_version is {v.configured}")
    detail = f"{found}, build {v.build}, API {v.api_version}"
    if generation is not None and out_of_support(generation, today):
        raise _Fail("EWS_VERSION_OUT_OF_SUPPORT", f"{detail}: out of support since "
                                                  f"{generation.support_ends:%Y-%m-%d}", status="warning")
    return detail


def pick_operator(store: Store, operator_id: str | None) -> tuple[str, str] | None:
    """(operator_id, email) to test impersonation with: the given one, else an enabled operator
    (preferring one whose latest verification was ok)."""
    if operator_id:
        row = store.rows("SELECT operator_id, email FROM operators WHERE operator_id = ?", [operator_id])
        if not row:
            raise WorkbenchError("OPERATOR_NOT_FOUND", f"operator_id={operator_id!r}")
        return row[0]
    from workbench.store.operators_table import LATEST_CHECK, VERIFIED_SQL
    rows = store.rows(f"""
        SELECT operator_id, email FROM ({LATEST_CHECK}) o
        WHERE contact_sync
        ORDER BY ({VERIFIED_SQL}) DESC NULLS LAST, operator_id LIMIT 1""")
    return rows[0] if rows else None


def run_check(store: Store, *, operator_id: str | None = None, password: str | None = None,
              keystore_password: str | None = None, source: str = "cli", save: bool = True,
              timeout: float = 30.0, progress: Callable[[StepResult], None] | None = None) -> CheckReport:
    """Run every step; never raises for a failing step (OPERATOR_NOT_FOUND is raised up front)."""
    from workbench import secrets
    from workbench.settings import ExchangeSettings, check_set
    from workbench.store.settings_table import stored_values

    stored = stored_values(store)
    if stored.get("backend") == "graph":      # Exchange Online: its own table of steps
        from workbench.checks_graph import run_graph_check
        return run_graph_check(store, stored, operator_id=operator_id, source=source, save=save, timeout=timeout,
                               progress=progress)
    target = pick_operator(store, operator_id) if operator_id else None
    report = CheckReport(started_at=now())
    report.exchange_url = stored.get("exchange_url", "")
    state: dict[str, Any] = {}

    def step(name: str, fn: Callable[[], tuple[str, str] | str]) -> StepResult:
        started = time.monotonic()
        try:
            out = fn()
            if isinstance(out, tuple):
                status, detail = out
            else:
                status, detail = "ok", out
            result = StepResult(name, status, detail)
        except _Fail as f:
            result = StepResult(name, f.status, f.detail, f.code)
        except WorkbenchError as exc:
            result = StepResult(name, "failed", secrets.redact(exc.detail), exc.code)
        except Exception as exc:   # a step must not crash the checklist
            from workbench.exchange.errors_map import to_workbench_error
            err = to_workbench_error(exc)
            result = StepResult(name, "failed", err.detail, err.code)
        result.seconds = time.monotonic() - started
        report.steps.append(result)
        if progress is not None:
            progress(result)
        return result

    def skipped(name: str, why: str) -> None:
        result = StepResult(name, "skipped", why)
        report.steps.append(result)
        if progress is not None:
            progress(result)

    # 1 settings
    def settings_step() -> str:
        problems = check_set(stored)
        try:
            state["settings"] = ExchangeSettings.from_text(stored)
        except ValueError:
            state["settings"] = None       # a stored value breaks its rule: named in problems
        if problems:
            raise _Fail("SETTINGS_INCOMPLETE", "; ".join(problems))
        return f"{len(stored)} settings, exchange_url {stored['exchange_url']}"
    step("settings", settings_step)
    settings = state.get("settings")
    usable = settings is not None and bool(settings.exchange_url) and urlsplit(settings.exchange_url).scheme == "https"
    if not usable:
        for name in STEPS[1:7]:
            skipped(name, "needs a valid https exchange_url")
    else:
        from workbench.exchange import keystore as ks
        host, port = ks.endpoint(settings.exchange_url)

        # 2 endpoint
        def endpoint_step() -> str:
            why = _tcp(host, port, CONNECT_TIMEOUT)
            if why:
                raise _Fail("EWS_UNREACHABLE", f"{host}:{port}: {why}")
            return f"{host}:{port} accepts connections"
        endpoint_ok = step("endpoint", endpoint_step).passed

        # 3 keystore
        def keystore_step() -> tuple[str, str] | str:
            if not settings.keystore_path:
                raise _Fail("SETTINGS_INCOMPLETE", "keystore_path is empty")
            pw = keystore_password if keystore_password is not None else \
                secrets.keystore_password(settings.keystore_path)
            state["keystore_password"] = pw
            store_ = ks.load_keystore(settings.keystore_path, pw)
            ks.trust_context(store_)                   # KEYSTORE_EMPTY
            state["keystore"] = store_
            rep = ks.inspect_keystore(store_, exchange_url="")
            n = len(store_.trusted_certs())
            detail = f"{store_.path.name}: {store_.store_type.upper()}, {n} trusted certificate{'s' * (n != 1)}"
            expired = [w for w in rep.all_warnings() if "EXPIRED" in w]
            if expired:
                return "warning", detail + "; " + "; ".join(expired)
            return detail
        keystore_ok = step("keystore", keystore_step).passed

        # 4 tls
        if endpoint_ok and keystore_ok:
            def tls_step() -> tuple[str, str] | str:
                probe = ks.probe_tls(settings.exchange_url, state["keystore"], timeout=timeout)
                leaf = probe.presented[0] if probe.presented else None
                about = (f"server presents {leaf.subject}, valid until {leaf.not_after:%Y-%m-%d}, "
                         f"SHA-256 {leaf.sha256}") if leaf else ""
                if not probe.ok:
                    raise _Fail(probe.code or "TLS_FAILED", "; ".join(x for x in (probe.detail, about) if x))
                if leaf and leaf.expires_within(CERT_WARNING_DAYS):
                    return "warning", f"{about} — expires in {(leaf.not_after - ks.utcnow()).days} days (TLS_EXPIRED soon)"
                return about or probe.detail
            tls_ok = step("tls", tls_step).passed
        else:
            skipped("tls", "needs the endpoint and the keystore")
            tls_ok = False

        # 5 credentials, 6 version, 7 impersonation
        if tls_ok:
            from workbench.exchange.client import ExchangeConnection

            def credentials_step() -> str:
                pw = password if password is not None else secrets.ews_password(settings.impersonation_account)
                conn = ExchangeConnection(settings, pw, state["keystore_password"], retry_max_wait=None,
                                          timeout=timeout)
                state["conn"] = conn
                conn.ping()
                return f"{settings.impersonation_account} signed in (NTLM)"
            try:
                creds_ok = step("credentials", credentials_step).passed
                if creds_ok:
                    step("version", lambda: _version_verdict(state["conn"].server_version(), now().date()))

                    def impersonation_step() -> tuple[str, str] | str:
                        chosen = target or pick_operator(store, None)
                        if chosen is None:
                            return "warning", "no operator with contact sync on: impersonation not tested"
                        op_id, email = chosen
                        report.operator_id = op_id
                        conn = state["conn"]
                        primary = conn.resolve_primary(email)
                        conn.verify_mailbox(primary)
                        if primary.lower() != email.lower():
                            raise _Fail("EWS_EMAIL_MISMATCH", f"{op_id}: opened {primary} as the service account; "
                                                              f"the operator's e-mail {email} is an alias",
                                        status="warning")
                        return f"{op_id}: opened {primary} as the service account"
                    step("impersonation", impersonation_step)
                else:
                    skipped("version", "needs accepted credentials")
                    skipped("impersonation", "needs accepted credentials")
            finally:
                conn = state.get("conn")
                if conn is not None:
                    conn.close()
        else:
            for name in ("credentials", "version", "impersonation"):
                skipped(name, "needs a trusted TLS connection")

    # 8 listener
    def listener_step() -> tuple[str, str] | str:
        url = stored.get("notification_url", "")
        if not url:
            raise _Fail("SETTINGS_INCOMPLETE", "notification_url is empty")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _Fail("SETTING_INVALID", f"notification_url={url!r} is not an http(s) URL with a host")
        lport = parts.port or (443 if parts.scheme == "https" else 80)
        why = _tcp(parts.hostname, lport, 2.0)
        if why is None:
            return f"{parts.hostname}:{lport} is listening"
        frequency = settings.notification_frequency_minutes if settings else 30
        if _agent_running(store, frequency):
            raise _Fail("LISTENER_UNREACHABLE", f"{parts.hostname}:{lport}: {why}, yet the agent's subscriptions "
                                                f"are active")
        raise _Fail("LISTENER_UNREACHABLE", f"nothing listens at {parts.hostname}:{lport} ({why}); "
                                            "fine until the agent runs", status="warning")
    step("listener", listener_step)

    report.finished_at = now()
    if save:
        save_report(store, report, source=source)
    return report


def save_report(store: Store, report: CheckReport, *, source: str = "cli") -> int:
    with store.write() as con:
        run_id = con.execute(
            "INSERT INTO check_runs (started_at, finished_at, ok, operator_id, exchange_url, source) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING run_id",
            [report.started_at, report.finished_at or now(), report.ok, report.operator_id, report.exchange_url,
             source]).fetchone()[0]
        for number, s in enumerate(report.steps, start=1):
            con.execute("INSERT INTO check_steps VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [run_id, number, s.step, s.status, s.code, s.detail, report.finished_at or now(),
                         s.seconds])
    report.run_id = int(run_id)
    return report.run_id


def last_check(store: Store) -> CheckReport | None:
    """The most recent stored run, or None (for the dashboard's "last check result")."""
    runs = store.rows("SELECT run_id, started_at, finished_at, operator_id, exchange_url FROM check_runs "
                      "ORDER BY run_id DESC LIMIT 1")
    if not runs:
        return None
    run_id, started, finished, operator_id, url = runs[0]
    steps = [StepResult(step, status, detail or "", code, seconds or 0.0) for step, status, code, detail, seconds in
             store.rows("SELECT step, status, code, detail, seconds FROM check_steps WHERE run_id = ? "
                        "ORDER BY step_no", [run_id])]
    return CheckReport(started_at=started, finished_at=finished, operator_id=operator_id, exchange_url=url or "",
                       steps=steps, run_id=int(run_id))


def history(store: Store, limit: int = 50):
    """Recent runs as a DataFrame (run_id, started_at, ok, failed steps, operator_id)."""
    return store.df("""
        SELECT r.run_id, r.started_at, r.ok, r.operator_id, r.source,
               string_agg(s.step || ':' || coalesce(s.code, ''), ', ' ORDER BY s.step_no)
                 FILTER (WHERE s.status = 'failed') AS failed_steps
        FROM check_runs r LEFT JOIN check_steps s USING (run_id)
        GROUP BY ALL ORDER BY r.run_id DESC LIMIT ?""", [limit])
