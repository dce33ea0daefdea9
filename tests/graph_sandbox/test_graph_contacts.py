"""Contacts through plain HTTP: CRUD, $select, $filter (extended properties too), $expand, paging,
If-Match, categories, immutable ids, contact folders, sendMail — checked in the shared mailbox store."""
from __future__ import annotations

import httpx

from workbench.sandbox import Sandbox

CRM = "String {5b0e6f0c-2d3a-4c59-9a8e-7f1d3c6b2e91} Name WorkbenchCrmContactId"


def _create(graph: httpx.Client, mailbox: str, **body) -> dict:
    r = graph.post(f"users/{mailbox}/contacts", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_create_get_list_and_the_ews_side_sees_it(graph_sb: Sandbox, graph: httpx.Client, mailbox: str) -> None:
    made = _create(graph, mailbox, givenName="Ann", surname="Lee", companyName="Acme",
                   emailAddresses=[{"address": "ann@acme.test", "name": "Ann Lee"}], businessPhones=["+1 555 0100"],
                   mobilePhone="+1 555 0199", businessAddress={"street": "1 Main St", "city": "Springfield"},
                   categories=["CRM"], singleValueExtendedProperties=[{"id": CRM, "value": "CRM-1"}])
    assert made["displayName"] == "Ann Lee" and made["@odata.etag"] == f'W/"{made["changeKey"]}"'
    got = graph.get(f"users/{mailbox}/contacts/{made['id']}").json()
    assert got["emailAddresses"] == [{"name": "Ann Lee", "address": "ann@acme.test"}]
    assert got["businessAddress"] == {"street": "1 Main St", "city": "Springfield"}
    ews = graph_sb.mailbox(mailbox).contacts[0]
    assert ews["item_id"].replace("/", "-").replace("+", "_") == made["id"]
    assert ews["email_addresses"] == {"EmailAddress1": "ann@acme.test"}
    assert ews["phone_numbers"] == {"BusinessPhone": "+1 555 0100", "MobilePhone": "+1 555 0199"}
    assert ews["physical_addresses"] == {"Business": {"Street": "1 Main St", "City": "Springfield"}}
    assert ews["categories"] == ["CRM"] and ews["extended_properties"] == {"WorkbenchCrmContactId": "CRM-1"}
    r = graph.patch(f"users/{mailbox}/contacts/{made['id']}", json={"birthday": "1980-05-17T00:00:00Z"})
    assert r.json()["birthday"] == "1980-05-17T00:00:00Z"
    by_user_id = graph.get(f"users/{graph.get(f'users/{mailbox}').json()['id']}/contacts").json()
    assert [c["id"] for c in by_user_id["value"]] == [made["id"]]


def test_contacts_made_through_ews_are_visible(graph: httpx.Client) -> None:
    """A seeded (EWS-side) contact: one store, so a mailbox reached either way keeps its contacts."""
    value = graph.get("users/a.jones@example.com/contacts", params={"$filter": "displayName eq 'Seed One'"}).json()
    assert [c["emailAddresses"][0]["address"] for c in value["value"]] == ["seed.one@client.com"]
    assert value["value"][0]["categories"] == ["PegaSASync"]


def test_select_and_unknown_property(graph: httpx.Client, mailbox: str) -> None:
    _create(graph, mailbox, givenName="Sel", surname="Ect", jobTitle="Buyer")
    value = graph.get(f"users/{mailbox}/contacts", params={"$select": "givenName,jobTitle"}).json()["value"]
    assert set(value[0]) == {"@odata.etag", "id", "givenName", "jobTitle"}
    r = graph.get(f"users/{mailbox}/contacts", params={"$select": "shoeSize"})
    assert r.status_code == 400 and "shoeSize" in r.json()["error"]["message"]


def test_filter_on_fields_and_extended_property(graph: httpx.Client, mailbox: str) -> None:
    _create(graph, mailbox, displayName="Alpha One", companyName="Acme", categories=["A"],
            singleValueExtendedProperties=[{"id": CRM, "value": "CRM-7"}])
    _create(graph, mailbox, displayName="Beta Two", companyName="Other", categories=["B"],
            emailAddresses=[{"address": "beta@other.test"}])

    def names(expr: str) -> list[str]:
        r = graph.get(f"users/{mailbox}/contacts", params={"$filter": expr})
        assert r.status_code == 200, r.text
        return [c["displayName"] for c in r.json()["value"]]

    assert names("companyName eq 'acme'") == ["Alpha One"]
    assert names("startswith(displayName,'Be')") == ["Beta Two"]
    assert names("categories/any(c:c eq 'B') or companyName eq 'Acme'") == ["Alpha One", "Beta Two"]
    assert names("emailAddresses/any(a:a/address eq 'beta@other.test')") == ["Beta Two"]
    assert names(f"singleValueExtendedProperties/Any(ep: ep/id eq '{CRM}' and ep/value eq 'CRM-7')") == ["Alpha One"]
    assert names(f"singleValueExtendedProperties/Any(ep: ep/id eq '{CRM}' and ep/value eq 'CRM-8')") == []
    assert names("not (companyName eq 'Acme')") == ["Beta Two"]
    assert names("lastModifiedDateTime ge 2000-01-01T00:00:00Z and displayName ne 'Alpha One'") == ["Beta Two"]
    assert names("createdDateTime lt 2000-01-01T00:00:00Z") == []
    r = graph.get(f"users/{mailbox}/contacts", params={"$filter": "companyName eqq 'x'"})
    assert r.status_code == 400 and "Invalid filter clause" in r.json()["error"]["message"]


def test_expand_single_value_extended_property(graph: httpx.Client, mailbox: str) -> None:
    made = _create(graph, mailbox, displayName="Ext", singleValueExtendedProperties=[
        {"id": CRM, "value": "CRM-9"}, {"id": "String 0x3a45", "value": "Dr."}])
    assert "singleValueExtendedProperties" not in made
    got = graph.get(f"users/{mailbox}/contacts/{made['id']}",
                    params={"$expand": f"singleValueExtendedProperties($filter=id eq '{CRM}')"}).json()
    assert got["singleValueExtendedProperties"] == [{"id": CRM, "value": "CRM-9"}]
    r = graph.get(f"users/{mailbox}/contacts", params={"$expand": "photo"})
    assert r.status_code == 400


def test_top_and_next_link_paging(graph: httpx.Client, mailbox: str) -> None:
    made = [_create(graph, mailbox, displayName=f"P{i:02d}")["id"] for i in range(13)]
    seen, url, pages = [], f"users/{mailbox}/contacts?$top=5", 0
    while url:
        body = graph.get(url).json()
        seen += [c["id"] for c in body["value"]]
        url, pages = body.get("@odata.nextLink"), pages + 1
    assert seen == made and pages == 3


def test_patch_with_if_match_and_stale_etag_412(graph_sb: Sandbox, graph: httpx.Client, mailbox: str) -> None:
    made = _create(graph, mailbox, givenName="Old", surname="Name", categories=["X"])
    path = f"users/{mailbox}/contacts/{made['id']}"
    r = graph.patch(path, json={"givenName": "New", "categories": ["X", "Y"], "surname": None},
                    headers={"If-Match": made["@odata.etag"]})
    assert r.status_code == 200, r.text
    assert r.json()["changeKey"] != made["changeKey"] and r.json()["surname"] is None
    stale = graph.patch(path, json={"givenName": "Lost"}, headers={"If-Match": made["@odata.etag"]})
    assert stale.status_code == 412 and stale.json()["error"]["code"] == "ErrorIrresolvableConflict"
    ews = graph_sb.mailbox(mailbox).contacts[0]
    assert (ews["given_name"], ews["surname"], ews["categories"]) == ("New", None, ["X", "Y"])


def test_bad_bodies_are_refused_naming_the_property(graph_sb: Sandbox, graph: httpx.Client, mailbox: str,
                                                   invalid_on_purpose) -> None:
    r = graph.post(f"users/{mailbox}/contacts", json=invalid_on_purpose({"displayName": "X", "shoeSize": 44}))
    assert r.status_code == 400 and "shoeSize" in r.json()["error"]["message"]
    r = graph.post(f"users/{mailbox}/contacts", json=invalid_on_purpose({"givenName": 5}))
    assert r.status_code == 400 and "givenName" in r.json()["error"]["message"]
    r = graph.post(f"users/{mailbox}/contacts", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert graph_sb.mailbox(mailbox).contacts == []


def test_delete_goes_to_deleted_items_and_permanent_delete(graph_sb: Sandbox, graph: httpx.Client,
                                                           mailbox: str) -> None:
    first, second = _create(graph, mailbox, displayName="Soft"), _create(graph, mailbox, displayName="Hard")
    assert graph.delete(f"users/{mailbox}/contacts/{first['id']}").status_code == 204
    assert graph.post(f"users/{mailbox}/contacts/{second['id']}/permanentDelete").status_code == 204
    view = graph_sb.mailbox(mailbox)
    assert view.contacts == [] and [d["display_name"] for d in view.deleted_items] == ["Soft"]
    r = graph.get(f"users/{mailbox}/contacts/{second['id']}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "ErrorItemNotFound"


def test_immutable_ids_survive_a_move(graph_sb: Sandbox, graph: httpx.Client, mailbox: str) -> None:
    made = _create(graph, mailbox, displayName="Stays")
    prefer = {"Prefer": 'IdType="ImmutableId"'}
    r = graph.get(f"users/{mailbox}/contacts/{made['id']}", headers=prefer)
    immutable = r.json()["id"]
    assert immutable != made["id"] and r.headers["Preference-Applied"] == 'IdType="ImmutableId"'
    graph.delete(f"users/{mailbox}/contacts/{made['id']}")              # moved to Deleted Items: new REST id
    again = graph.get(f"users/{mailbox}/contacts/{immutable}", headers=prefer)
    assert again.status_code == 200 and again.json()["id"] == immutable
    assert again.json()["parentFolderId"] != made["parentFolderId"]


def test_contact_folders(graph: httpx.Client, mailbox: str) -> None:
    folders = graph.get(f"users/{mailbox}/contactFolders").json()["value"]
    assert [f["displayName"] for f in folders] == ["Contacts"]
    fid = folders[0]["id"]
    made = graph.post(f"users/{mailbox}/contactFolders/{fid}/contacts", json={"displayName": "InFolder"}).json()
    assert made["parentFolderId"] == fid
    listed = graph.get(f"users/{mailbox}/contactFolders/{fid}/contacts").json()["value"]
    assert [c["id"] for c in listed] == [made["id"]]
    assert graph.get(f"users/{mailbox}/contactFolders/{fid}/contacts/{made['id']}").status_code == 200
    assert graph.get(f"users/{mailbox}/contactFolders/AAAA/contacts").status_code == 404


def test_unknown_user(graph: httpx.Client) -> None:
    r = graph.get("users/nobody@example.com/contacts")
    assert r.status_code == 404 and r.json()["error"]["code"] == "ErrorInvalidUser"


def test_send_mail_delivers_and_saves_a_copy(graph_sb: Sandbox, graph: httpx.Client, mailbox: str) -> None:
    r = graph.post(f"users/{mailbox}/sendMail", json={"message": {
        "subject": "Sync failed", "body": {"contentType": "text", "content": "3 contacts failed."},
        "toRecipients": [{"emailAddress": {"address": "bob.smith@example.com", "name": "Bob"}}]},
        "saveToSentItems": True})
    assert r.status_code == 202, r.text
    sent = graph_sb.mailbox(mailbox).sent_items
    assert [(m["subject"], m["body"], m["to_recipients"]) for m in sent] == [
        ("Sync failed", "3 contacts failed.", ["bob.smith@example.com"])]
    assert any(m["subject"] == "Sync failed" for m in graph_sb.mailbox("bob.smith@example.com").inbox)
    r = graph.post(f"users/{mailbox}/sendMail", json={"message": {"subject": "x"}})
    assert r.status_code == 400 and r.json()["error"]["code"] == "ErrorInvalidRecipients"


def test_sensitivity_is_pr_sensitivity_both_ways(graph_sb: Sandbox, graph: httpx.Client, mailbox: str) -> None:
    """PR_SENSITIVITY (Integer 0x0036) and EWS's Sensitivity are one MAPI property: private on one side is private on
    the other (the behaviour tests found EWS-private contacts synced over Graph)."""
    tagged = "Integer 0x0036"
    expand = {"$expand": f"singleValueExtendedProperties($filter=id eq '{tagged}')"}
    graph_sb.add_mailbox(f"ews.{mailbox}", contacts=[{"display_name": "Secret", "private": True}])
    graph_sb.graph.set_scope(graph_sb.graph.default_app.client_id,
                             [*(graph_sb.graph.default_app.scope or []), f"ews.{mailbox}"])
    [seeded] = graph.get(f"users/ews.{mailbox}/contacts", params=expand).json()["value"]
    assert seeded["singleValueExtendedProperties"] == [{"id": tagged, "value": "2"}]
    made = _create(graph, mailbox, displayName="Open")
    assert graph.get(f"users/{mailbox}/contacts/{made['id']}", params=expand).json()[
        "singleValueExtendedProperties"] == [{"id": tagged, "value": "0"}]
    r = graph.patch(f"users/{mailbox}/contacts/{made['id']}",
                    json={"singleValueExtendedProperties": [{"id": tagged, "value": "2"}]})
    assert r.status_code == 200, r.text
    assert graph_sb.mailbox(mailbox).contacts[0]["sensitivity"] == "Private"
    r = graph.patch(f"users/{mailbox}/contacts/{made['id']}",
                    json={"singleValueExtendedProperties": [{"id": tagged, "value": "7"}]})
    assert r.status_code == 400 and "PR_SENSITIVITY" in r.json()["error"]["message"]


def test_item_failures_refuse_one_contact(graph_sb: Sandbox, graph: httpx.Client, mailbox: str) -> None:
    graph_sb.graph.faults.set(item_failures={"CRM-13": "ErrorInvalidProperty"})
    r = graph.post(f"users/{mailbox}/contacts", json={"displayName": "Refused", "singleValueExtendedProperties": [
        {"id": CRM, "value": "CRM-13"}]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "ErrorInvalidProperty"
    made = _create(graph, mailbox, displayName="Fine", singleValueExtendedProperties=[{"id": CRM, "value": "CRM-14"}])
    r = graph.patch(f"users/{mailbox}/contacts/{made['id']}", json={"singleValueExtendedProperties": [
        {"id": CRM, "value": "CRM-13"}]})
    assert r.status_code == 400
    assert [c["display_name"] for c in graph_sb.mailbox(mailbox).contacts] == ["Fine"]
    assert graph_sb.mailbox(mailbox).contacts[0]["extended_properties"] == {"WorkbenchCrmContactId": "CRM-14"}
