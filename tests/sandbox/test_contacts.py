"""Contacts through exchangelib against the sandbox: fields, filters, bulk calls, change keys, deletes."""
from __future__ import annotations

import datetime as dt

import pytest
from exchangelib import Contact, EWSTimeZone, Mailbox, Message
from exchangelib.errors import ErrorIrresolvableConflict, ErrorItemNotFound
from exchangelib.indexed_properties import EmailAddress, PhoneNumber, PhysicalAddress
from exchangelib.items import AUTO_RESOLVE, HARD_DELETE, MOVE_TO_DELETED_ITEMS, NEVER_OVERWRITE
from exchangelib.services import UpdateItem

UTC = EWSTimeZone("UTC")


def full_contact(n: int, **extra) -> Contact:
    return Contact(display_name=f"Ann Lee {n}", given_name="Ann", surname=f"Lee{n}", file_as=f"Lee{n}, Ann",
                   company_name="Acme", job_title="Buyer", categories=["PegaSASync", "VIP"], sensitivity="Private",
                   crm_id=f"CRM-{n}",
                   email_addresses=[EmailAddress(label="EmailAddress1", email=f"ann{n}@acme.com"),
                                    EmailAddress(label="EmailAddress2", email=f"ann{n}@home.com")],
                   phone_numbers=[PhoneNumber(label="BusinessPhone", phone_number="+1 555 1000"),
                                  PhoneNumber(label="MobilePhone", phone_number="+1 555 2000"),
                                  PhoneNumber(label="HomePhone", phone_number="+1 555 3000"),
                                  PhoneNumber(label="AssistantPhone", phone_number="+1 555 4000")],
                   physical_addresses=[PhysicalAddress(label="Business", street="1 Main St", city="Springfield",
                                                       state="IL", country="US", zipcode="62701")], **extra)


def test_seeded_contacts_are_visible(alice):
    seeded = {c.display_name: c for c in alice.contacts.all()}
    one = seeded["Seed One"]
    assert one.email_addresses[0].email == "seed.one@client.com"
    assert one.categories == ["PegaSASync"]
    assert {p.label: p.phone_number for p in one.phone_numbers} == {"BusinessPhone": "+1 555 0101",
                                                                    "MobilePhone": "+1 555 0102"}
    assert one.physical_addresses[0].city == "Springfield" and one.physical_addresses[0].zipcode == "62701"
    assert seeded["Private Person"].sensitivity == "Private"


def test_all_mapped_fields_round_trip(sandbox, alice):
    [created] = alice.bulk_create(alice.contacts, [full_contact(1)])
    got = alice.contacts.get(crm_id="CRM-1")
    assert got.id == created.id and got.changekey == created.changekey
    assert (got.given_name, got.surname, got.file_as, got.company_name, got.job_title) == \
        ("Ann", "Lee1", "Lee1, Ann", "Acme", "Buyer")
    assert got.sensitivity == "Private" and got.categories == ["PegaSASync", "VIP"]
    assert {e.label: e.email for e in got.email_addresses} == {"EmailAddress1": "ann1@acme.com",
                                                               "EmailAddress2": "ann1@home.com"}
    assert {p.label for p in got.phone_numbers} == {"BusinessPhone", "MobilePhone", "HomePhone", "AssistantPhone"}
    addr = got.physical_addresses[0]
    assert (addr.label, addr.street, addr.city, addr.state, addr.country, addr.zipcode) == \
        ("Business", "1 Main St", "Springfield", "IL", "US", "62701")
    assert abs(got.last_modified_time - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(minutes=1)
    view = next(c for c in sandbox.mailbox("alice.jones@example.com").contacts if c["item_id"] == got.id)
    crm_property = next(f for f in Contact.FIELDS if f.name == "crm_id").value_cls.property_name
    assert view["extended_properties"] == {crm_property: "CRM-1"} and view["sensitivity"] == "Private"


def test_update_set_append_delete_and_changekeys(alice):
    [created] = alice.bulk_create(alice.contacts, [full_contact(2)])
    c = alice.contacts.get(crm_id="CRM-2")
    c.job_title = "Director"
    c.phone_numbers = [PhoneNumber(label="BusinessPhone", phone_number="+1 555 9999")]
    c.physical_addresses = [PhysicalAddress(label="Business", street="2 Elm St", city="Shelbyville")]
    c.company_name = None
    c.crm_id = "CRM-2b"
    c.categories = ["PegaSASync"]
    [(item_id, ck)] = alice.bulk_update([(c, ["job_title", "phone_numbers", "physical_addresses", "company_name",
                                              "crm_id", "categories"])])
    assert item_id == created.id and ck != created.changekey
    got = alice.contacts.get(id=item_id)
    assert got.job_title == "Director" and got.company_name is None and got.crm_id == "CRM-2b"
    assert [(p.label, p.phone_number) for p in got.phone_numbers] == [("BusinessPhone", "+1 555 9999")]
    assert (got.physical_addresses[0].street, got.physical_addresses[0].city, got.physical_addresses[0].zipcode) \
        == ("2 Elm St", "Shelbyville", None)
    assert got.categories == ["PegaSASync"] and got.changekey == ck
    c.crm_id = None
    c.save(update_fields=["crm_id"])
    assert alice.contacts.get(id=item_id).crm_id is None


def test_stale_changekey(alice, monkeypatch):
    alice.bulk_create(alice.contacts, [full_contact(3)])
    first = alice.contacts.get(crm_id="CRM-3")
    second = alice.contacts.get(crm_id="CRM-3")
    first.job_title = "One"
    first.save(update_fields=["job_title"])
    second.job_title = "Two"
    # exchangelib raises ErrorIrresolvableConflict for the whole call unless told to return it per item
    monkeypatch.setattr(UpdateItem, "ERRORS_TO_CATCH_IN_RESPONSE",
                        UpdateItem.ERRORS_TO_CATCH_IN_RESPONSE + (ErrorIrresolvableConflict,))
    [result] = alice.bulk_update([(second, ["job_title"])], conflict_resolution=NEVER_OVERWRITE)
    assert isinstance(result, ErrorIrresolvableConflict)
    assert alice.contacts.get(crm_id="CRM-3").job_title == "One"
    [result] = alice.bulk_update([(second, ["job_title"])], conflict_resolution=AUTO_RESOLVE)
    assert not isinstance(result, Exception)
    assert alice.contacts.get(crm_id="CRM-3").job_title == "Two"


def test_filters_emitted_by_exchangelib(alice):
    alice.bulk_create(alice.contacts, [
        Contact(display_name="Filter A", given_name="Annabel", categories=["Red", "Blue"], crm_id="F-1"),
        Contact(display_name="Filter B", given_name="Bert", categories=["Blue"], crm_id="F-2"),
        Contact(display_name="Filter C", given_name="Carl", crm_id="F-3"),
    ])
    names = lambda qs: sorted(c.display_name for c in qs if c.display_name.startswith("Filter"))  # noqa: E731
    assert names(alice.contacts.filter(categories__contains=["Red", "Blue"])) == ["Filter A"]
    assert names(alice.contacts.filter(categories__contains=["Blue"])) == ["Filter A", "Filter B"]
    assert names(alice.contacts.filter(categories__in=["Red", "Green"])) == ["Filter A"]
    assert names(alice.contacts.filter(categories__exists=False)) == ["Filter C"]
    assert names(alice.contacts.filter(given_name__icontains="ANNA")) == ["Filter A"]
    assert names(alice.contacts.filter(crm_id__in=["F-2", "F-3"])) == ["Filter B", "Filter C"]
    past = dt.datetime.now(UTC) - dt.timedelta(hours=1)
    future = dt.datetime.now(UTC) + dt.timedelta(hours=1)
    assert names(alice.contacts.filter(last_modified_time__gt=past)) == ["Filter A", "Filter B", "Filter C"]
    assert names(alice.contacts.filter(last_modified_time__gt=future)) == []
    assert alice.contacts.filter(crm_id="F-2").count() == 1
    ordered = [c.given_name for c in alice.contacts.filter(display_name__startswith="Filter").order_by("-given_name")]
    assert ordered == ["Carl", "Bert", "Annabel"]


def test_paging_and_per_item_errors(sandbox, account):
    bob = account(sandbox, "bob.smith@example.com")
    results = bob.bulk_create(bob.contacts, [Contact(display_name=f"Page {i:03}") for i in range(260)], chunk_size=100)
    assert not [r for r in results if isinstance(r, Exception)]
    qs = bob.contacts.all().only("display_name")
    qs.page_size = 50
    listed = [c.display_name for c in qs]
    assert listed == [f"Page {i:03}" for i in range(260)]
    assert bob.contacts.all().count() == 260
    gone = results[5]
    bob.bulk_delete([gone], delete_type=HARD_DELETE)
    fetched = list(bob.fetch(ids=[results[4], gone, results[6]]))
    assert isinstance(fetched[1], ErrorItemNotFound)
    assert [f.display_name for f in (fetched[0], fetched[2])] == ["Page 004", "Page 006"]
    assert isinstance(bob.bulk_delete([gone])[0], ErrorItemNotFound)


def test_injected_item_failure_comes_back_per_item(sandbox, alice):
    sandbox.faults.set(item_failures={"CRM-17": "ErrorItemSave", "Broken Name": "ErrorItemSave"})
    try:
        results = alice.bulk_create(alice.contacts, [Contact(display_name="ok 1", crm_id="CRM-16"),
                                                     Contact(display_name="bad", crm_id="CRM-17"),
                                                     Contact(display_name="Broken Name"),
                                                     Contact(display_name="ok 2")])
    finally:
        sandbox.faults.clear()
    assert [type(r).__name__ for r in results] == ["BulkCreateResult", "ErrorItemSave", "ErrorItemSave",
                                                   "BulkCreateResult"]
    assert alice.contacts.filter(crm_id="CRM-17").count() == 0
    last = [r for r in sandbox.requests if r.operation == "CreateItem"][-1]
    assert (last.operation, last.items, last.errors) == ("CreateItem", 4, 2)


def test_move_to_deleted_items_and_hard_delete(sandbox, alice):
    created = alice.bulk_create(alice.contacts, [Contact(display_name="To Trash", crm_id="DEL-1"),
                                                 Contact(display_name="To Void", crm_id="DEL-2")])
    assert alice.bulk_delete([created[0]], delete_type=MOVE_TO_DELETED_ITEMS) == [True]
    assert alice.bulk_delete([created[1]], delete_type=HARD_DELETE) == [True]
    view = sandbox.mailbox("a.jones@example.com")
    assert "To Trash" in [c["display_name"] for c in view.deleted_items]
    assert not {"To Trash", "To Void"} & {c["display_name"] for c in view.contacts}
    assert [c.display_name for c in alice.trash.filter(display_name="To Trash")] == ["To Trash"]


def test_send_and_save_copy_goes_to_sent_items(sandbox, account):
    svc = account(sandbox, "svc-sync@example.com")
    msg = Message(account=svc, folder=svc.sent, subject="Sync failed for bob",
                  body="The sync of bob.smith@example.com was cancelled.",
                  to_recipients=[Mailbox(email_address="alice.jones@example.com")])
    msg.send_and_save()
    sent = sandbox.mailbox("svc-sync@example.com").sent_items
    assert sent[-1]["subject"] == "Sync failed for bob"
    assert sent[-1]["to_recipients"] == ["alice.jones@example.com"]
    assert "cancelled" in sent[-1]["body"]
    inbox = sandbox.mailbox("alice.jones@example.com").inbox
    assert inbox[-1]["subject"] == "Sync failed for bob"


def test_resolve_names_maps_alias_to_primary(alice):
    [mb] = alice.protocol.resolve_names(["a.jones@example.com"])
    assert mb.email_address == "alice.jones@example.com"
    [mb] = alice.protocol.resolve_names(["smtp:BOB.SMITH@example.com"])
    assert mb.email_address == "bob.smith@example.com"
    [err] = alice.protocol.resolve_names(["nobody@example.com"])
    assert type(err).__name__ == "ErrorNameResolutionNoResults"


def test_folders(alice):
    assert alice.contacts.folder_class == "IPF.Contact"
    names = {f.name for f in alice.root.walk()}
    assert {"Contacts", "Deleted Items", "Sent Items", "Inbox"} <= names


@pytest.mark.parametrize("field", ["given_name", "surname"])
def test_findItem_answers_plain_fields_without_getitem(sandbox, alice, field):
    before = len(sandbox.requests)
    values = [getattr(c, field) for c in alice.contacts.filter(display_name="Seed One").only(field)]
    assert values == ["Seed" if field == "given_name" else "One"]
    ops = [r.operation for r in sandbox.requests[before:]]
    assert "GetItem" not in ops
