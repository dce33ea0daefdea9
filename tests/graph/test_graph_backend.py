"""The Graph backend through the mailbox protocol, against the Graph sandbox over real HTTPS: tokens (secret,
certificate, their failures), the protocol's reads and writes, delta and its reset, sendMail, the probe,
faults (429 with Retry-After inside $batch, a throttled whole request), every failure a catalogue code."""
from __future__ import annotations

import dataclasses

import pytest

from workbench.errors import CATALOGUE, WorkbenchError
from workbench.graph import mapping
from workbench.mailbox import CONFLICT, GONE, ItemRef, MailboxBackend, StateInvalid, item_problem

from tests.graph.conftest import graph_settings, in_scope

CAT = "PegaSASync"


def payload(n: int, **fields) -> dict:
    return {"fields": {"given_name": f"Gra{n}", "surname": "Ph", "email": f"graph{n}@client.test",
                       "company": "Graph Co", "city": "Lyon", **fields},
            "crm_id": f"CRM-G{n:04d}", "categories": [CAT]}


def with_app(env, app, **changes):
    """The store's settings with another app of the sandbox (its secret in the environment)."""
    return dataclasses.replace(env.settings(), graph_client_id=app.client_id, **changes)


def test_backend_is_the_protocol_and_writes_read_back(graph_env) -> None:
    with graph_env.backend() as backend:
        assert isinstance(backend, MailboxBackend) and backend.kind == "graph"
        assert (backend.limits.max_batch, backend.limits.max_in_flight) == (20, 4)
        backend.ping()
        mb = backend.open("bob.smith@example.com")
        refs = mb.create([payload(n) for n in range(45)], batch_size=45)
        assert all(isinstance(r, ItemRef) for r in refs) and len({r.item_id for r in refs}) == 45
        rows = {r["crm_id"]: r for r in mb.snapshot(batch_size=10)}
        assert rows["CRM-G0007"]["email"] == "graph7@client.test" and rows["CRM-G0007"]["city"] == "Lyon"
        assert rows["CRM-G0007"]["categories"] == [CAT] and rows["CRM-G0007"]["private"] is False
        found = mb.find_by_crm_ids(["CRM-G0003", "CRM-G0044", "CRM-NONE"], batch_size=50)
        assert sorted(found) == ["CRM-G0003", "CRM-G0044"]
        # update with the current change key, then again with the stale one: CONFLICT, never written over
        first = refs[3]
        done = mb.update([{"item_id": first.item_id, "change_key": first.change_key,
                           "fields": payload(3, job_title="CTO")["fields"], "crm_id": "CRM-G0003",
                           "categories": [CAT]}], batch_size=10)
        assert isinstance(done[0], ItemRef) and done[0].change_key != first.change_key
        stale = mb.update([{"item_id": first.item_id, "change_key": first.change_key, "fields": payload(3)["fields"],
                            "crm_id": "CRM-G0003", "categories": [CAT]}], batch_size=10)
        assert isinstance(stale[0], WorkbenchError) and item_problem(stale[0]) == CONFLICT
        assert mb.fetch_rows([first.item_id])[first.item_id]["job_title"] == "CTO"
        # delete: to Deleted Items, then the id is gone for the contacts folder
        assert mb.delete([(refs[0].item_id, None), (refs[1].item_id, None)], batch_size=10) == [True, True]
        again = mb.delete([(refs[0].item_id, None)], batch_size=10)
        assert item_problem(again[0]) == GONE, "a resent delete never touches the item in Deleted Items"
        after = mb.fetch_rows([refs[0].item_id, refs[2].item_id])
        assert after[refs[2].item_id]["in_contacts"] is True
        assert after[refs[0].item_id]["in_contacts"] is False, "in Deleted Items, same immutable id"
    sandbox_box = graph_env.sandbox.mailbox("bob.smith@example.com")
    assert len([c for c in sandbox_box.contacts if c["item_id"]]) == 43
    parts = [r for r in graph_env.sandbox.graph.requests if r.batch and r.method == "POST"]
    assert len(parts) == 45, "each create is one part of a $batch"
    tops = [r for r in graph_env.sandbox.graph.requests if r.path == "/v1.0/$batch"]
    assert len(tops) >= 3, "45 creates need three $batch requests of at most 20"


def test_the_crm_id_property_is_the_one_ews_writes(graph_env) -> None:
    """The Graph id of the property names the EWS property set and name (the sandboxes share the property store:
    an item written over Graph carries the EWS extended property, and one written over EWS is found over Graph)."""
    from workbench.exchange.mapping import CRM_ID_PROPERTY_NAME, CRM_ID_PROPERTY_SET
    assert mapping.CRM_ID_PROPERTY == f"String {{{CRM_ID_PROPERTY_SET}}} Name {CRM_ID_PROPERTY_NAME}"
    sb = graph_env.sandbox
    sb.add_mailbox("ewsmade@example.com")
    in_scope(sb, "ewsmade@example.com")
    with graph_env.backend() as backend:
        mb = backend.open("ewsmade@example.com")
        mb.create([payload(1)], 10)
    item = sb.mailbox("ewsmade@example.com").contacts[0]
    assert item["extended_properties"][CRM_ID_PROPERTY_NAME] == "CRM-G0001"


def test_delta_pages_then_a_reset_is_state_invalid(graph_env) -> None:
    with graph_env.backend() as backend:
        mb = backend.open("bob.smith@example.com")
        refs = mb.create([payload(n) for n in range(5)], 10)
        pages = list(mb.changes_since(None, batch_size=2))
        assert len(pages) >= 3 and pages[-1].last and not pages[0].from_state
        assert {r["crm_id"] for p in pages for r in p.upserts} >= {f"CRM-G{n:04d}" for n in range(5)}
        state = pages[-1].state
        assert state and "deltatoken" in state.lower()
        mb.update([{"item_id": refs[1].item_id, "change_key": None, "fields": payload(1, city="Nantes")["fields"],
                    "crm_id": "CRM-G0001", "categories": [CAT]}], 10)
        mb.delete([(refs[2].item_id, None)], 10)
        page, = list(mb.changes_since(state, batch_size=50))
        assert page.from_state and [r["city"] for r in page.upserts] == ["Nantes"]
        assert page.deleted_item_ids == [refs[2].item_id]
        graph_env.sandbox.graph.invalidate_sync("bob.smith@example.com")
        with pytest.raises(StateInvalid):
            list(mb.changes_since(page.state, batch_size=50))


def test_throttled_parts_are_resent_after_retry_after(graph_env) -> None:
    sb = graph_env.sandbox
    sb.graph.faults.set(throttle_every=3, retry_after_s=1)
    slept: list[float] = []
    with graph_env.backend() as backend:
        backend.transport._sleep = slept.append
        mb = backend.open("bob.smith@example.com")
        sb.graph.faults.set(throttle_every=3, retry_after_s=1)
        refs = mb.create([payload(n) for n in range(12)], 20)
    sb.graph.faults.clear()
    assert all(isinstance(r, ItemRef) for r in refs), refs
    assert slept and set(slept) == {1.0}, "waited as Retry-After said, between rounds"
    crm_ids = [c["extended_properties"].get("WorkbenchCrmContactId") for c in sb.mailbox("bob.smith@example.com").contacts]
    assert sorted(i for i in crm_ids if i) == sorted(f"CRM-G{n:04d}" for n in range(12)), "no duplicate, none lost"


def test_a_throttled_request_is_transient_with_the_hint(graph_env) -> None:
    sb = graph_env.sandbox
    with graph_env.backend() as backend:
        mb = backend.open("bob.smith@example.com")
        sb.graph.faults.set(throttle_share=1.0, retry_after_s=7)
        with pytest.raises(WorkbenchError) as caught:
            mb.snapshot(10)
        sb.graph.faults.clear()
    err = caught.value
    assert err.code == "GRAPH_THROTTLED" and err.failure.transient and err.back_off == 7.0


def test_send_mail_from_the_service_mailbox(graph_env) -> None:
    with graph_env.backend() as backend:
        backend.send_mail(["bob.smith@example.com"], "Sync failed", "mailbox x: details")
    inbox = graph_env.sandbox.mailbox("bob.smith@example.com").inbox
    assert [m["subject"] for m in inbox] == ["Sync failed"]


def test_probe_outcomes(graph_env) -> None:
    sb = graph_env.sandbox
    with graph_env.backend() as backend:
        assert backend.probe("alice.jones@example.com").status == "ok"
        alias = backend.probe("a.jones@example.com")
        assert (alias.status, alias.code, alias.primary_address) == ("email-mismatch", "GRAPH_EMAIL_MISMATCH",
                                                                     "alice.jones@example.com")
        assert backend.probe("nobody@example.com").code == "GRAPH_MAILBOX_NOT_FOUND"
        denied = backend.probe(sb.graph.restricted_mailbox)
        assert (denied.status, denied.code) == ("impersonation-denied", "GRAPH_SCOPE_DENIED")
        with pytest.raises(WorkbenchError) as caught:
            backend.open(sb.graph.restricted_mailbox)
    assert caught.value.code == "GRAPH_SCOPE_DENIED"
    assert "New-ManagementRoleAssignment" in CATALOGUE["GRAPH_SCOPE_DENIED"].remedy


def test_certificate_credential_and_token_failures(graph_env, monkeypatch) -> None:
    from workbench.backends import open_backend
    sb = graph_env.sandbox
    cert = dataclasses.replace(graph_env.settings(), **{k: v for k, v in graph_settings(sb, certificate=True).items()
                                                         if k == "graph_certificate_path"})
    monkeypatch.delenv("WORKBENCH_GRAPH_CLIENT_SECRET")
    with open_backend(cert) as backend:
        backend.ping()
        assert {"Contacts.ReadWrite", "Mail.Send"} <= set(backend.roles())
    monkeypatch.setenv("WORKBENCH_GRAPH_CLIENT_SECRET", "not-the-secret")
    with open_backend(graph_env.settings()) as backend, pytest.raises(WorkbenchError) as wrong:
        backend.ping()
    assert wrong.value.code == "GRAPH_AUTH_REJECTED" and "not-the-secret" not in str(wrong.value)
    expired_app = sb.graph.add_app("Expired", expired_certificate=True)
    pem = graph_env.workdir / "expired.pem"
    pem.write_text(expired_app.key_pem + expired_app.cert_pem)
    with open_backend(with_app(graph_env, expired_app, graph_certificate_path=str(pem))) as backend, \
            pytest.raises(WorkbenchError) as expired:
        backend.ping()
    assert expired.value.code == "GRAPH_CERT_EXPIRED"
    no_roles = sb.graph.add_app("No consent", roles=())
    monkeypatch.setenv("WORKBENCH_GRAPH_CLIENT_SECRET", no_roles.secret)
    with open_backend(with_app(graph_env, no_roles)) as backend, pytest.raises(WorkbenchError) as consent:
        backend.open("alice.jones@example.com")
    assert consent.value.code == "GRAPH_CONSENT_MISSING"


def test_untrusted_endpoint_is_a_tls_error(graph_env, tmp_path) -> None:
    from workbench.backends import open_backend
    system_trust = dataclasses.replace(graph_env.settings(), graph_ca_bundle="")
    with open_backend(system_trust) as backend, pytest.raises(WorkbenchError) as caught:
        backend.ping()
    assert caught.value.code == "GRAPH_TLS_UNTRUSTED"
