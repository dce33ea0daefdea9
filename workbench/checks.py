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

The steps are a table (``EWS_STEPS``: each step with what it needs) run by the one loop of
``workbench.check_steps`` (timing, skipping, error mapping), as the Graph checklist is (``checks_graph``).
A run is stored (``check_runs`` + ``check_steps``) so the dashboard can show the last result.
No printing here; the CLI and the dashboard render ``CheckReport``.
"""
from __future__ import annotations

import datetime as dt
import socket
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlsplit

from workbench.check_steps import TITLES, Step, StepFailed, StepResult, run_steps
from workbench.errors import WorkbenchError
from workbench.store import Store, now

STEPS = ("settings", "endpoint", "keystore", "tls", "credentials", "version", "impersonation", "listener")
CERT_WARNING_DAYS = 14
CONNECT_TIMEOUT = 5.0


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


def _tcp(host: str, port: int, timeout: float) -> str | None:
    """None when a TCP connection opens, else the reason."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return exc.strerror or str(exc) or type(exc).__name__


def agent_running(store: Store, frequency_minutes: int) -> bool:
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
        raise StepFailed("EWS_VERSION_MISMATCH", f"server reports {found}, build {v.build}; "
                                            f"exchange_version is {v.configured}")
    detail = f"{found}, build {v.build}, API {v.api_version}"
    if generation is not None and out_of_support(generation, today):
        raise StepFailed("EWS_VERSION_OUT_OF_SUPPORT", f"{detail}: out of support since "
                                                  f"{generation.support_ends:%Y-%m-%d}", status="warning")
    return detail


def checklist_backend(store: Store, stored: dict[str, str], operator_id: str | None) -> str:
    """The checklist to run: the backend serving ``operator_id``'s mailbox (a hybrid organisation), else the
    organisation's ``backend``."""
    from workbench.settings import SETTINGS
    from workbench.store.operators_table import LATEST_CHECK
    org = stored.get("backend", SETTINGS["backend"].default)
    rows = store.rows(f"SELECT effective_backend FROM ({LATEST_CHECK}) o WHERE operator_id = ?",
                      [operator_id]) if operator_id else []
    return rows[0][0] if rows else org


def pick_operator(store: Store, operator_id: str | None, backend: str | None = None) -> tuple[str, str] | None:
    """(operator_id, email) to test impersonation with: the given one, else an enabled operator served by
    ``backend`` (any when None), preferring one whose latest verification was ok."""
    if operator_id:
        row = store.rows("SELECT operator_id, email FROM operators WHERE operator_id = ?", [operator_id])
        if not row:
            raise WorkbenchError("OPERATOR_NOT_FOUND", f"operator_id={operator_id!r}")
        return row[0]
    from workbench.store.operators_table import LATEST_CHECK, VERIFIED_SQL
    rows = store.rows(f"""
        SELECT operator_id, email FROM ({LATEST_CHECK}) o
        WHERE contact_sync AND effective_backend = coalesce(?, effective_backend)
        ORDER BY ({VERIFIED_SQL}) DESC NULLS LAST, operator_id LIMIT 1""", [backend])
    return rows[0] if rows else None


def _settings(state: dict[str, Any]) -> str:
    from workbench.settings import ExchangeSettings, check_set
    stored = state["stored"]
    problems = check_set(stored)
    try:
        state["settings"] = ExchangeSettings.from_text(stored)
    except ValueError:
        state["settings"] = None       # a stored value breaks its rule: named in problems
    if problems:
        raise StepFailed("SETTINGS_INCOMPLETE", "; ".join(problems))
    return f"{len(stored)} settings, exchange_url {stored['exchange_url']}"


def _needs_url(state: dict[str, Any]) -> str | None:
    """The gate of every step that talks to the server: a valid https exchange_url."""
    settings = state.get("settings")
    if settings is None or not settings.exchange_url or urlsplit(settings.exchange_url).scheme != "https":
        return "needs a valid https exchange_url"
    return None


def _endpoint(state: dict[str, Any]) -> str:
    from workbench.exchange import keystore as ks
    host, port = ks.endpoint(state["settings"].exchange_url)
    why = _tcp(host, port, CONNECT_TIMEOUT)
    if why:
        raise StepFailed("EWS_UNREACHABLE", f"{host}:{port}: {why}")
    return f"{host}:{port} accepts connections"


def _keystore(state: dict[str, Any]) -> tuple[str, str] | str:
    from workbench import secrets
    from workbench.exchange import keystore as ks
    settings = state["settings"]
    if not settings.keystore_path:
        raise StepFailed("SETTINGS_INCOMPLETE", "keystore_path is empty")
    given = state["keystore_password"]
    state["keystore_password"] = given if given is not None else secrets.keystore_password(settings.keystore_path)
    opened = ks.load_keystore(settings.keystore_path, state["keystore_password"])
    ks.trust_context(opened)                   # KEYSTORE_EMPTY
    state["keystore"] = opened
    n = len(opened.trusted_certs())
    detail = f"{opened.path.name}: {opened.store_type.upper()}, {n} trusted certificate{'s' * (n != 1)}"
    expired = [w for w in ks.inspect_keystore(opened, exchange_url="").all_warnings() if "EXPIRED" in w]
    return ("warning", detail + "; " + "; ".join(expired)) if expired else detail


def _tls(state: dict[str, Any]) -> tuple[str, str] | str:
    from workbench.exchange import keystore as ks
    probe = ks.probe_tls(state["settings"].exchange_url, state["keystore"], timeout=state["timeout"])
    leaf = probe.presented[0] if probe.presented else None
    about = (f"server presents {leaf.subject}, valid until {leaf.not_after:%Y-%m-%d}, "
             f"SHA-256 {leaf.sha256}") if leaf else ""
    if not probe.ok:
        raise StepFailed(probe.code or "TLS_FAILED", "; ".join(x for x in (probe.detail, about) if x))
    if leaf and leaf.expires_within(CERT_WARNING_DAYS):
        return "warning", f"{about} — expires in {(leaf.not_after - ks.utcnow()).days} days (TLS_EXPIRED soon)"
    return about or probe.detail


def _credentials(state: dict[str, Any]) -> str:
    from workbench import secrets
    from workbench.exchange.client import ExchangeConnection
    settings = state["settings"]
    pw = state["password"] if state["password"] is not None else secrets.ews_password(settings.impersonation_account)
    state["conn"] = ExchangeConnection(settings, pw, state["keystore_password"], retry_max_wait=None,
                                       timeout=state["timeout"])
    state["conn"].ping()
    return f"{settings.impersonation_account} signed in (NTLM)"


def _version(state: dict[str, Any]) -> tuple[str, str] | str:
    return _version_verdict(state["conn"].server_version(), now().date())


def _impersonation(state: dict[str, Any]) -> tuple[str, str] | str:
    chosen = state["target"] or pick_operator(state["store"], None, "ews")
    if chosen is None:
        return "warning", "no operator with contact sync on: impersonation not tested"
    op_id, email = chosen
    state["report"].operator_id = op_id
    conn = state["conn"]
    primary = conn.resolve_primary(email)
    conn.verify_mailbox(primary)
    if primary.lower() != email.lower():
        raise StepFailed("EWS_EMAIL_MISMATCH", f"{op_id}: opened {primary} as the service account; "
                                               f"the operator's e-mail {email} is an alias", status="warning")
    return f"{op_id}: opened {primary} as the service account"


def _listener(state: dict[str, Any]) -> tuple[str, str] | str:
    url = state["stored"].get("notification_url", "")
    if not url:
        raise StepFailed("SETTINGS_INCOMPLETE", "notification_url is empty")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise StepFailed("SETTING_INVALID", f"notification_url={url!r} is not an http(s) URL with a host")
    lport = parts.port or (443 if parts.scheme == "https" else 80)
    why = _tcp(parts.hostname, lport, 2.0)
    if why is None:
        return f"{parts.hostname}:{lport} is listening"
    settings = state.get("settings")
    if agent_running(state["store"], settings.notification_frequency_minutes if settings else 30):
        raise StepFailed("LISTENER_UNREACHABLE", f"{parts.hostname}:{lport}: {why}, yet the agent's subscriptions "
                                                 f"are active")
    raise StepFailed("LISTENER_UNREACHABLE", f"nothing listens at {parts.hostname}:{lport} ({why}); "
                                             "fine until the agent runs", status="warning")


#: the EWS checklist: each step with what it needs; every step talking to the server is gated on a usable
#: exchange_url
EWS_STEPS = (
    Step("settings", _settings),
    Step("endpoint", _endpoint, gate=_needs_url),
    Step("keystore", _keystore, gate=_needs_url),
    Step("tls", _tls, ("endpoint", "keystore"), "needs the endpoint and the keystore", _needs_url),
    Step("credentials", _credentials, ("tls",), "needs a trusted TLS connection", _needs_url),
    Step("version", _version, ("credentials",), "needs accepted credentials", _needs_url),
    Step("impersonation", _impersonation, ("credentials",), "needs accepted credentials", _needs_url),
    Step("listener", _listener),
)


def run_check(store: Store, *, operator_id: str | None = None, password: str | None = None,
              keystore_password: str | None = None, source: str = "cli", save: bool = True,
              timeout: float = 30.0, progress: Callable[[StepResult], None] | None = None) -> CheckReport:
    """Run every step; never raises for a failing step (OPERATOR_NOT_FOUND is raised up front)."""
    from workbench.exchange.errors_map import to_workbench_error
    from workbench.store.settings_table import stored_values
    stored = stored_values(store)
    if checklist_backend(store, stored, operator_id) == "graph":      # Exchange Online: its own table of steps
        from workbench.checks_graph import run_graph_check
        return run_graph_check(store, stored, operator_id=operator_id, source=source, save=save, timeout=timeout,
                               progress=progress)
    report = CheckReport(started_at=now(), exchange_url=stored.get("exchange_url", ""))
    state: dict[str, Any] = {"store": store, "stored": stored, "report": report, "timeout": timeout,
                             "password": password, "keystore_password": keystore_password,
                             "target": pick_operator(store, operator_id) if operator_id else None}
    try:
        report.steps = run_steps(EWS_STEPS, state, to_error=to_workbench_error, progress=progress)
    finally:
        if state.get("conn") is not None:
            state["conn"].close()
    return finish_report(store, report, save=save, source=source)


def finish_report(store: Store, report: CheckReport, *, save: bool, source: str) -> CheckReport:
    """Stamp the end of a check (EWS or Graph) and store it when asked."""
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
