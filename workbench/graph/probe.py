"""Does an operator's e-mail name an Exchange Online mailbox the app may open? (``MailboxBackend.probe``)

The user must exist, its primary address (``mail``) must equal the e-mail (the rule EWS verification applies),
and its contacts folder must be readable by the app (in its RBAC scope). Never raises.
"""
from __future__ import annotations

from workbench.errors import WorkbenchError
from workbench.graph.mailbox import user_path
from workbench.graph.transport import Transport
from workbench.mailbox import Probe

_STATUS = {"GRAPH_MAILBOX_NOT_FOUND": "mailbox-not-found", "GRAPH_SCOPE_DENIED": "impersonation-denied",
           "GRAPH_CONSENT_MISSING": "impersonation-denied"}


def probe_mailbox(transport: Transport, email: str) -> Probe:
    primary: str | None = None
    try:
        user = transport.call("GET", user_path(email), params={"$select": "id,mail,userPrincipalName"},
                              mailbox=email) or {}
        primary = user.get("mail") or user.get("userPrincipalName")
        if not primary:
            return Probe("mailbox-not-found", "GRAPH_MAILBOX_NOT_FOUND", None, f"{email}: the user has no mailbox")
        if primary.lower() != email.lower():
            return Probe("email-mismatch", "GRAPH_EMAIL_MISMATCH", primary,
                         f"{email} is an alias; the mailbox's primary address is {primary}")
        transport.call("GET", f"{user_path(email)}/contactFolders/contacts", params={"$select": "id"}, mailbox=email)
    except WorkbenchError as err:
        return Probe(_STATUS.get(err.code, "unreachable"), err.code, primary, err.detail)
    return Probe("ok", None, primary, f"{email}: mailbox reachable, contacts readable")
