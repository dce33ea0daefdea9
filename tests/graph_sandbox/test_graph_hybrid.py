"""One organisation, two ways in: what Graph writes EWS reads, and what EWS changes Graph sees (delta)."""
from __future__ import annotations

import httpx
from exchangelib import Account, Contact, ExtendedProperty

CRM = "String {5b0e6f0c-2d3a-4c59-9a8e-7f1d3c6b2e91} Name WorkbenchCrmContactId"


class CrmId(ExtendedProperty):
    property_set_id = "5b0e6f0c-2d3a-4c59-9a8e-7f1d3c6b2e91"
    property_name = "WorkbenchCrmContactId"
    property_type = "String"


def test_graph_writes_ews_reads_and_ews_changes_show_in_delta(graph: httpx.Client, ews_alice: Account) -> None:
    base = "users/alice.jones@example.com/contacts"
    _, link = _drain(graph, f"{base}/delta")
    made = graph.post(base, json={"givenName": "Hy", "surname": "Brid", "categories": ["PegaSASync"],
                                  "emailAddresses": [{"address": "hy.brid@client.test"}],
                                  "singleValueExtendedProperties": [{"id": CRM, "value": "CRM-42"}]}).json()
    ews_id = made["id"].replace("-", "/").replace("_", "+")
    [contact] = ews_alice.fetch(ids=[(ews_id, None)])
    assert (contact.display_name, contact.categories) == ("Hy Brid", ["PegaSASync"])
    assert [e.email for e in contact.email_addresses] == ["hy.brid@client.test"]
    assert _crm_value(ews_alice, ews_id) == "CRM-42"
    contact.job_title = "Set through EWS"
    contact.save(update_fields=["job_title"])
    changes, _ = _drain(graph, link)
    [entry] = [c for c in changes if c["id"] == made["id"]]
    assert entry["jobTitle"] == "Set through EWS" and entry["changeKey"] != made["changeKey"]


SENSITIVITY = "Integer 0x0036"


def test_sensitivity_is_one_property_for_ews_and_graph(graph: httpx.Client, ews_alice: Account) -> None:
    """PR_SENSITIVITY (what the Graph backend reads as ``private``) is EWS's Sensitivity, both ways."""
    base = "users/alice.jones@example.com/contacts"
    expand = {"$expand": f"singleValueExtendedProperties($filter=id eq '{SENSITIVITY}')"}
    made_in_ews = Contact(account=ews_alice, folder=ews_alice.contacts, given_name="Pri", surname="Vate",
                          display_name="Pri Vate", sensitivity="Private")
    made_in_ews.save()
    graph_id = made_in_ews.id.replace("/", "-").replace("+", "_")
    got = graph.get(f"{base}/{graph_id}", params=expand).json()
    assert got["singleValueExtendedProperties"] == [{"id": SENSITIVITY, "value": "2"}]

    made = graph.post(base, json={"givenName": "Also", "surname": "Private", "singleValueExtendedProperties": [
        {"id": SENSITIVITY, "value": "2"}]}).json()
    [contact] = ews_alice.fetch(ids=[(made["id"].replace("-", "/").replace("_", "+"), None)])
    assert contact.sensitivity == "Private"
    assert graph.patch(f"{base}/{made['id']}", json={"singleValueExtendedProperties": [
        {"id": SENSITIVITY, "value": "0"}]}).status_code == 200
    [contact] = ews_alice.fetch(ids=[(contact.id, None)])
    assert contact.sensitivity == "Normal"
    bad = graph.patch(f"{base}/{made['id']}", json={"singleValueExtendedProperties": [
        {"id": SENSITIVITY, "value": "7"}]})
    assert bad.status_code == 400 and "PR_SENSITIVITY" in bad.json()["error"]["message"]


def _crm_value(account: Account, ews_id: str) -> str | None:
    registered = any(f.name == "graph_crm_id" for f in Contact.FIELDS)
    if not registered:
        Contact.register("graph_crm_id", CrmId)
    try:
        [item] = account.fetch(ids=[(ews_id, None)], only_fields=["graph_crm_id"])
        return item.graph_crm_id
    finally:
        if not registered:
            Contact.deregister("graph_crm_id")


def _drain(graph: httpx.Client, url: str) -> tuple[list[dict], str]:
    entries = []
    while True:
        body = graph.get(url).json()
        entries += body["value"]
        if "@odata.deltaLink" in body:
            return entries, body["@odata.deltaLink"]
        url = body["@odata.nextLink"]
