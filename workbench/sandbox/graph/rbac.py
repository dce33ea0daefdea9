"""Who may do what: app roles from the token (Entra app permissions) and RBAC for Applications in
Exchange Online (a management scope of mailboxes per app)."""
from __future__ import annotations

from .registry import App
from .wire import GraphError

READ, WRITE, SEND, DIRECTORY = "read", "write", "send", "directory"
NEEDS: dict[str, frozenset[str]] = {
    READ: frozenset({"Contacts.Read", "Contacts.ReadWrite"}),
    WRITE: frozenset({"Contacts.ReadWrite"}),
    SEND: frozenset({"Mail.Send"}),
    DIRECTORY: frozenset({"User.ReadBasic.All", "User.Read.All", "Contacts.Read", "Contacts.ReadWrite",
                          "Mail.Send"}),
}


def require(app: App, roles: frozenset[str], action: str, mailbox: str) -> None:
    """Raise 403 ErrorAccessDenied when the token lacks the role or the mailbox is outside the app's scope."""
    if not roles & NEEDS[action]:
        raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
    if app.odata_disabled or not app.in_scope(mailbox):
        raise GraphError(403, "ErrorAccessDenied", "Access to OData is disabled.")
