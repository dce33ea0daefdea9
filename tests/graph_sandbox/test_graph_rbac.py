"""RBAC for Applications (management scope) and app roles, as Graph answers them."""
from __future__ import annotations

import httpx

from conftest import token

from workbench.sandbox import Sandbox


def test_mailbox_outside_the_scope_is_refused(graph_sb: Sandbox, graph: httpx.Client) -> None:
    outside = graph_sb.graph.restricted_mailbox
    assert outside in graph_sb.info.mailboxes and outside not in graph_sb.info.graph["scoped_mailboxes"]
    for r in (graph.get(f"users/{outside}/contacts"), graph.post(f"users/{outside}/contacts", json={"displayName": "X"}),
              graph.get(f"users/{outside}/contacts/delta")):
        assert r.status_code == 403
        assert r.json()["error"] == {**r.json()["error"], "code": "ErrorAccessDenied",
                                     "message": "Access to OData is disabled."}
    assert graph_sb.mailbox(outside).contacts == []


def test_app_without_the_role_gets_403(graph_sb: Sandbox, client_for) -> None:
    bare = graph_sb.graph.add_app("No roles", roles=[])
    c = client_for(token(graph_sb, bare.client_id, bare.secret))
    r = c.get("users/alice.jones@example.com/contacts")
    assert r.status_code == 403 and r.json()["error"]["message"] == "Access is denied. Check credentials and try again."


def test_read_only_app_cannot_write_or_send(graph_sb: Sandbox, client_for) -> None:
    reader = graph_sb.graph.add_app("Reader", roles=["Contacts.Read"], scope=["alice.jones@example.com"])
    c = client_for(token(graph_sb, reader.client_id, reader.secret))
    assert c.get("users/alice.jones@example.com/contacts").status_code == 200
    assert c.post("users/alice.jones@example.com/contacts", json={"displayName": "No"}).status_code == 403
    r = c.post("users/alice.jones@example.com/sendMail", json={"message": {
        "subject": "x", "toRecipients": [{"emailAddress": {"address": "bob.smith@example.com"}}]}})
    assert r.status_code == 403
    assert c.get("users/bob.smith@example.com/contacts").json()["error"]["message"] == "Access to OData is disabled."


def test_app_whose_odata_access_is_disabled(graph_sb: Sandbox, client_for) -> None:
    """An app with the role but no management role assignment in Exchange Online: every mailbox refuses it."""
    off = graph_sb.graph.add_app("OData off", odata_disabled=True)
    r = client_for(token(graph_sb, off.client_id, off.secret)).get("users/alice.jones@example.com/contacts")
    assert r.status_code == 403 and r.json()["error"]["message"] == "Access to OData is disabled."
