"""Mailbox probe for operator verification: does the e-mail resolve to a mailbox whose primary address
equals it, and can the impersonation account open that mailbox's contacts folder?

    probe_mailbox(conn, email) -> workbench.mailbox.Probe(status, code, primary_address, detail)

Never raises: every failure becomes a status with its catalogue code. Statuses:
ok; mailbox-not-found (EWS_MAILBOX_NOT_FOUND); email-mismatch (EWS_EMAIL_MISMATCH: the e-mail is an
alias or otherwise differs from the primary SMTP address, reported, never fixed silently);
impersonation-denied (EWS_IMPERSONATION_DENIED); unreachable (the check could not be completed: the
code says why, e.g. EWS_UNREACHABLE, EWS_TIMEOUT, TLS_UNTRUSTED, EWS_AUTH_REJECTED, EWS_THROTTLED).
"""
from __future__ import annotations

from workbench.errors import WorkbenchError
from workbench.exchange.errors_map import to_workbench_error
from workbench.mailbox import Probe

_STATUS_OF_CODE = {
    "EWS_MAILBOX_NOT_FOUND": "mailbox-not-found",
    "EWS_EMAIL_MISMATCH": "email-mismatch",
    "EWS_IMPERSONATION_DENIED": "impersonation-denied",
}


def _failed(err: WorkbenchError, primary: str | None, prefix: str = "") -> Probe:
    status = _STATUS_OF_CODE.get(err.code, "unreachable")
    return Probe(status, err.code, primary, prefix + (err.detail or err.failure.title))


def _open_contacts(account) -> None:
    """GetFolder on the contacts folder through impersonation (a real request even when cached)."""
    cached = account.__dict__.get("contacts")
    try:
        if cached is not None:
            cached.refresh()
        else:
            account.contacts
    except Exception:
        # a failed first GetFolder must not stay cached on the account
        account.__dict__.pop("contacts", None)
        account.__dict__.pop("root", None)
        raise


def probe_mailbox(conn, email: str) -> Probe:
    """Check one operator e-mail against Exchange through ``conn`` (an ExchangeConnection)."""
    email = email.strip()
    try:
        primary = conn.resolve_primary(email)
    except WorkbenchError as err:
        return _failed(err, None)
    except Exception as exc:                       # never a traceback from a probe
        return _failed(to_workbench_error(exc, mailbox=email), None)
    mismatch = primary.lower() != email.lower()
    note = (f"operator e-mail {email} differs from the mailbox's primary address {primary}; " if mismatch else "")
    try:
        _open_contacts(conn.account(primary))
    except WorkbenchError as err:
        return _failed(err, primary, note)
    except Exception as exc:
        return _failed(to_workbench_error(exc, mailbox=primary), primary, note)
    if mismatch:
        return Probe("email-mismatch", "EWS_EMAIL_MISMATCH", primary,
                           note + "impersonation works on the primary address; update the operator's e-mail")
    return Probe("ok", None, primary, f"mailbox {primary}: contacts folder opened through impersonation")
