"""Issue 12's sandbox behaviours through exchangelib (tests/conformance has them in raw SOAP):
SyncFolderItems Create across pages, AllProperties without extended properties, DeleteItem types,
schema faults, ConvertId = PR_ENTRYID; and the sandbox's secrets only in sandbox.json."""
from __future__ import annotations

import base64
import json
import os
import stat

import pytest
from exchangelib import Contact, ExtendedProperty
from exchangelib.errors import ErrorItemNotFound, ErrorSchemaValidation
from exchangelib.items import HARD_DELETE, ID_ONLY, MOVE_TO_DELETED_ITEMS, SOFT_DELETE
from exchangelib.properties import ENTRY_ID, EWS_ID, HEX_ENTRY_ID, AlternateId
from exchangelib.services import GetItem, SyncFolderItems


def sync_page(folder, state, max_changes):
    svc = SyncFolderItems(account=folder.account)
    changes = [(kind, getattr(item, "display_name", None) if kind != "delete" else item.id)
               for kind, item in svc.call(folder=folder, shape=ID_ONLY, additional_fields=set(
                   folder.normalize_fields(fields=["display_name"])), sync_state=state, ignore=None,
                   max_changes_returned=max_changes, sync_scope=None)]
    return changes, svc.sync_state, svc.includes_last_item_in_range


def test_sync_pages_report_create_for_an_item_not_yet_received(sandbox, account):
    sandbox.add_mailbox("pager@example.com")
    acc = account(sandbox, "pager@example.com")
    a, _, _ = acc.bulk_create(acc.contacts, [Contact(display_name=n) for n in ("A", "B", "C")])
    item = acc.contacts.get(id=a.id)
    item.display_name = "A renamed"
    item.save(update_fields=["display_name"])
    page1, state, last = sync_page(acc.contacts, None, 2)
    assert (page1, last) == ([("create", "B"), ("create", "C")], False)
    page2, state, last = sync_page(acc.contacts, state, 2)
    assert (page2, last) == ([("create", "A renamed")], True)


def test_all_properties_leaves_out_extended_properties(sandbox, alice):
    [ref] = alice.bulk_create(alice.contacts, [Contact(display_name="Ext Hidden", crm_id="CRM-EXT-1")])
    crm_field = next(f for f in alice.contacts.normalize_fields(fields=["crm_id"]))
    [bare] = GetItem(account=alice).call(items=[ref], additional_fields=set(), shape="AllProperties")
    assert bare.display_name == "Ext Hidden" and bare.crm_id is None
    [asked] = GetItem(account=alice).call(items=[ref], additional_fields={crm_field}, shape="AllProperties")
    assert asked.crm_id == "CRM-EXT-1"
    assert alice.contacts.filter(crm_id="CRM-EXT-1").only("crm_id")[0].crm_id == "CRM-EXT-1"


@pytest.mark.parametrize("delete_type, folder", [(MOVE_TO_DELETED_ITEMS, "trash"),
                                                 (SOFT_DELETE, "recoverable_items_deletions"),
                                                 (HARD_DELETE, None)])
def test_delete_types(sandbox, alice, delete_type, folder):
    name = f"Gone {delete_type}"
    [ref] = alice.bulk_create(alice.contacts, [Contact(display_name=name)])
    assert alice.bulk_delete([ref], delete_type=delete_type) == [True]
    places = {f: [c.display_name for c in getattr(alice, f).filter(display_name=name)]
              for f in ("contacts", "trash", "recoverable_items_deletions")}
    assert {f for f, names in places.items() if names} == ({folder} if folder else set())
    view = sandbox.mailbox("alice.jones@example.com")
    assert (name in [c["display_name"] for c in view.recoverable_items]) == (delete_type == SOFT_DELETE)
    with pytest.raises(ErrorItemNotFound):
        alice.contacts.get(id=ref.id)


def test_a_schema_violation_raises_error_schema_validation(sandbox, alice, intentionally_invalid):
    mark = len(sandbox.captured)
    with pytest.raises(ErrorSchemaValidation, match="MaxChangesReturned"):
        sync_page(alice.contacts, None, 600)
    sent = [body for direction, body in sandbox.captured[mark:]
            if direction == "request" and b"<m:MaxChangesReturned>600<" in body]
    assert len(sent) == 1
    intentionally_invalid.add(sent[0])
    assert sandbox.requests[-1].status == 500 and sandbox.requests[-1].outcome == "ErrorSchemaValidation"


class EntryId(ExtendedProperty):
    property_tag = 0x0FFF
    property_type = "Binary"


def test_convert_id_matches_pr_entryid(sandbox, alice):
    [ref] = alice.bulk_create(alice.contacts, [Contact(display_name="Entry Id")])
    Contact.register("entry_id", EntryId)
    try:
        entry_id = alice.contacts.get(id=ref.id).entry_id
    finally:
        Contact.deregister("entry_id")
    mailbox = "alice.jones@example.com"
    [as_entry] = alice.protocol.convert_ids([AlternateId(id=ref.id, format=EWS_ID, mailbox=mailbox)], ENTRY_ID)
    [as_hex] = alice.protocol.convert_ids([AlternateId(id=ref.id, format=EWS_ID, mailbox=mailbox)], HEX_ENTRY_ID)
    assert base64.b64decode(as_entry.id) == entry_id == bytes.fromhex(as_hex.id)


def test_secrets_are_written_to_sandbox_json_only(make_sandbox, tmp_path):
    sb = make_sandbox(state_dir=tmp_path / "secret-state")
    sb.add_user("helpdesk@example.com", "Helpdesk-Secret-7", can_impersonate=False)
    sb.save()
    secrets = (sb.info.service_account.password, "Helpdesk-Secret-7")
    holders = {p.name for p in (tmp_path / "secret-state").rglob("*") if p.is_file()
               and any(s.encode() in p.read_bytes() for s in secrets)}
    assert holders == {"sandbox.json"}
    info = tmp_path / "secret-state" / "sandbox.json"
    assert stat.S_IMODE(os.stat(info).st_mode) == 0o600
    assert json.loads(info.read_text())["service_account"]["password"] == sb.info.service_account.password
    assert not (tmp_path / "secret-state" / "ntlm_users.txt").exists()
