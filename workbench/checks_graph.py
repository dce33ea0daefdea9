"""`workbench check` for an organisation on Microsoft Graph (``backend=graph``): a table of steps, each with the
steps it needs, run by one loop; a step whose prerequisite did not pass is skipped, naming it.

  settings   the stored set is valid for the backends in use (``settings.check_set``)
  token      msal acquires an app-only token (certificate or secret; trust = system CA store or graph_ca_bundle)
  roles      the token's ``roles`` hold Contacts.ReadWrite (failed without) and Mail.Send (warning without: no
             failure e-mail)
  mailbox    one operator's mailbox: the user exists, its primary address is the e-mail, its contacts folder
             opens (a mailbox outside the app's RBAC scope fails with GRAPH_SCOPE_DENIED and its remedy)
  listener   notification_url is https, as Graph requires (the agent does not serve Graph webhooks yet: issue 14)

Results are ``workbench.checks`` StepResult / CheckReport, stored the same way.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit

from workbench.checks import CheckReport, StepResult, _Fail, pick_operator, save_report
from workbench.errors import WorkbenchError
from workbench.secrets import redact
from workbench.store import Store, now

REQUIRED_ROLE, MAIL_ROLE = "Contacts.ReadWrite", "Mail.Send"


@dataclass(frozen=True)
class Step:
    name: str
    needs: tuple[str, ...]
    run: Callable[[dict[str, Any]], tuple[str, str] | str]


def _settings(state: dict[str, Any]) -> str:
    from workbench.settings import check_set
    from workbench.store.settings_table import load, operator_backends
    store = state["store"]
    in_use = {kind for _address, kind in operator_backends(store)}
    problems = check_set(state["stored"], in_use)
    if problems:
        raise _Fail("SETTINGS_INCOMPLETE", "; ".join(problems))
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
        raise _Fail("GRAPH_CONSENT_MISSING", f"the token's roles: {held}; {REQUIRED_ROLE} is needed")
    if MAIL_ROLE not in roles:
        raise _Fail("GRAPH_CONSENT_MISSING", f"the token's roles: {held}; without {MAIL_ROLE} no failure e-mail "
                                             "is sent", status="warning")
    return f"roles {held}"


def _mailbox(state: dict[str, Any]) -> tuple[str, str] | str:
    target = state["target"]
    if target is None:
        return "skipped", "no operator with contact sync on (give --operator ID)"
    op, email = target
    probe = state["backend"].probe(email)
    if probe.code:
        raise _Fail(probe.code, f"operator {op}: {probe.detail}")
    return f"operator {op}: {probe.detail}"


def _listener(state: dict[str, Any]) -> str:
    """Graph delivers change notifications only to https URLs; the handshake itself is not checked yet."""
    url = state["stored"].get("notification_url", "")
    if urlsplit(url).scheme != "https" or not urlsplit(url).hostname:
        raise _Fail("SETTING_INVALID", f"notification_url={url!r}: Graph calls only an https URL with a host")
    return f"{url} is https (the agent does not answer Graph's validation handshake yet: issue 14)"


STEPS = (Step("settings", (), _settings), Step("token", ("settings",), _token), Step("roles", ("token",), _roles),
         Step("mailbox", ("token",), _mailbox), Step("listener", (), _listener))


def _one(step: Step, state: dict[str, Any]) -> StepResult:
    started = time.monotonic()
    try:
        out = step.run(state)
        status, detail = out if isinstance(out, tuple) else ("ok", out)
        result = StepResult(step.name, status, detail)
    except _Fail as f:
        result = StepResult(step.name, f.status, redact(f.detail), f.code)
    except WorkbenchError as err:
        result = StepResult(step.name, "failed", redact(err.detail), err.code)
    result.seconds = time.monotonic() - started
    return result


def run_graph_check(store: Store, stored: dict[str, str], *, operator_id: str | None, source: str, save: bool,
                    timeout: float, progress: Callable[[StepResult], None] | None) -> CheckReport:
    report = CheckReport(started_at=now(), exchange_url=stored.get("graph_endpoint", ""))
    state: dict[str, Any] = {"store": store, "stored": stored, "timeout": timeout,
                             "target": pick_operator(store, operator_id)}
    report.operator_id = state["target"][0] if state["target"] else None
    passed: set[str] = set()
    try:
        for step in STEPS:
            missing = [n for n in step.needs if n not in passed]
            result = (StepResult(step.name, "skipped", f"needs {missing[0]}") if missing else _one(step, state))
            if result.status in ("ok", "warning"):
                passed.add(step.name)
            report.steps.append(result)
            if progress is not None:
                progress(result)
    finally:
        if state.get("backend") is not None:
            state["backend"].close()
    report.finished_at = now()
    if save:
        save_report(store, report, source=source)
    return report
