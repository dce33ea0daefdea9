"""`workbench check` for an organisation on Microsoft Graph (``backend=graph``): a table of steps, each with the
steps it needs, run by one loop; a step whose prerequisite did not pass is skipped, naming it.

  settings   the stored set is valid for the backends in use (``settings.check_set``)
  token      msal acquires an app-only token (certificate or secret; trust = system CA store or graph_ca_bundle)
  roles      the token's ``roles`` hold Contacts.ReadWrite (failed without) and Mail.Send (warning without: no
             failure e-mail)
  mailbox    one operator's mailbox: the user exists, its primary address is the e-mail, its contacts folder
             opens (a mailbox outside the app's RBAC scope fails with GRAPH_SCOPE_DENIED and its remedy)
  listener   notification_url is https, as Graph requires
  webhook    Graph's validation handshake against notification_url (``workbench.graph.webhook_check``): the
             agent's listener must echo the token, 200 text/plain, within 10 s (nothing listening: a warning
             unless the agent's state says it runs)

Results are ``workbench.checks`` StepResult / CheckReport, stored the same way.
"""
from __future__ import annotations

from typing import Any, Callable
from urllib.parse import urlsplit

from workbench.check_steps import Step, StepFailed, StepResult, run_steps
from workbench.checks import CheckReport, finish_report, pick_operator
from workbench.store import Store, now

REQUIRED_ROLE, MAIL_ROLE = "Contacts.ReadWrite", "Mail.Send"


def _settings(state: dict[str, Any]) -> str:
    from workbench.settings import check_set
    from workbench.store.settings_table import load, operator_backends
    store = state["store"]
    in_use = {kind for _address, kind in operator_backends(store)}
    problems = check_set(state["stored"], in_use)
    if problems:
        raise StepFailed("SETTINGS_INCOMPLETE", "; ".join(problems))
    state["settings"] = load(store)
    return f"backend graph, endpoint {state['settings'].graph_endpoint}"


def _token(state: dict[str, Any]) -> str:
    from workbench.backends import open_kind
    backend = open_kind("graph", state["settings"], timeout=state["timeout"])
    state["backend"] = backend
    state["roles"] = backend.roles()
    return f"tenant {state['settings'].graph_tenant_id}, app {state['settings'].graph_client_id}"


def _roles(state: dict[str, Any]) -> tuple[str, str] | str:
    roles = set(state["roles"])
    held = ", ".join(sorted(roles)) or "none"
    if REQUIRED_ROLE not in roles:
        raise StepFailed("GRAPH_CONSENT_MISSING", f"the token's roles: {held}; {REQUIRED_ROLE} is needed")
    if MAIL_ROLE not in roles:
        raise StepFailed("GRAPH_CONSENT_MISSING", f"the token's roles: {held}; without {MAIL_ROLE} no failure e-mail "
                                             "is sent", status="warning")
    return f"roles {held}"


def _mailbox(state: dict[str, Any]) -> tuple[str, str] | str:
    target = state["target"]
    if target is None:
        return "skipped", "no operator with contact sync on (give --operator ID)"
    op, email = target
    probe = state["backend"].probe(email)
    if probe.code:
        raise StepFailed(probe.code, f"operator {op}: {probe.detail}")
    return f"operator {op}: {probe.detail}"


def _listener(state: dict[str, Any]) -> str:
    """Graph delivers change notifications only to https URLs."""
    url = state["stored"].get("notification_url", "")
    if urlsplit(url).scheme != "https" or not urlsplit(url).hostname:
        raise StepFailed("SETTING_INVALID", f"notification_url={url!r}: Graph calls only an https URL with a host")
    return f"{url} is https"


def _webhook(state: dict[str, Any]) -> str:
    """Nothing listening is a warning until the agent runs (as the EWS listener step); a wrong answer fails."""
    from workbench.checks import agent_running
    from workbench.errors import WorkbenchError
    from workbench.graph.webhook_check import handshake
    settings = state["settings"]
    try:
        return handshake(settings)
    except WorkbenchError as err:
        running = agent_running(state["store"], settings.notification_frequency_minutes)
        if err.code != "LISTENER_UNREACHABLE" or running:
            raise
        raise StepFailed(err.code, f"{err.detail}; fine until the agent runs", status="warning") from None


STEPS = (Step("settings", _settings), Step("token", _token, ("settings",)), Step("roles", _roles, ("token",)),
         Step("mailbox", _mailbox, ("token",)), Step("listener", _listener),
         Step("webhook", _webhook, ("settings", "listener")))


def run_graph_check(store: Store, stored: dict[str, str], *, operator_id: str | None, source: str, save: bool,
                    timeout: float, progress: Callable[[StepResult], None] | None) -> CheckReport:
    report = CheckReport(started_at=now(), exchange_url=stored.get("graph_endpoint", ""))
    state: dict[str, Any] = {"store": store, "stored": stored, "timeout": timeout,
                             "target": pick_operator(store, operator_id, "graph")}
    report.operator_id = state["target"][0] if state["target"] else None
    from workbench.graph.errors_map import from_exception
    try:
        report.steps = run_steps(STEPS, state, to_error=lambda exc: from_exception(exc, where="check"),
                                 progress=progress)
    finally:
        if state.get("backend") is not None:
            state["backend"].close()
    return finish_report(store, report, save=save, source=source)
