"""SyncFolderItems as Microsoft documents it: Create for an item not in the client's store at the given
sync state, Update for one that is, Delete only for items the client was given; paging with
MaxChangesReturned and IncludesLastItemInRange."""
from __future__ import annotations

import itertools

import pytest

from tests.conformance.conftest import NS, make_contact


_FRESH = itertools.count(1)


@pytest.fixture
def mailbox(sandbox) -> str:
    """A fresh, empty mailbox per test (the change sequence of its Contacts folder starts at 0)."""
    address = f"sync{next(_FRESH)}@example.com"
    sandbox.add_mailbox(address)
    return address


def sync(ews, mailbox: str, state: str | None, max_changes: int):
    state_el = f"<m:SyncState>{state}</m:SyncState>" if state else ""
    answer = ews.call(f'''<m:SyncFolderItems>
      <m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>
        <t:FieldURI FieldURI="contacts:DisplayName"/></t:AdditionalProperties></m:ItemShape>
      <m:SyncFolderId><t:DistinguishedFolderId Id="contacts"/></m:SyncFolderId>{state_el}
      <m:MaxChangesReturned>{max_changes}</m:MaxChangesReturned>
      <m:SyncScope>NormalItems</m:SyncScope></m:SyncFolderItems>''', impersonate=mailbox)
    assert answer.codes == ["NoError"]
    changes = []
    for change in answer.find(".//m:Changes"):
        kind = change.tag.split("}")[1]
        if kind == "Delete":
            changes.append((kind, change.find("t:ItemId", NS).get("Id")))
        else:
            changes.append((kind, change.findtext("t:Contact/t:DisplayName", namespaces=NS)))
    return changes, answer.text(".//m:SyncState"), answer.text(".//m:IncludesLastItemInRange") == "true"


def rename(ews, mailbox: str, item_id: str, name: str) -> None:
    answer = ews.call(f'''<m:UpdateItem ConflictResolution="AlwaysOverwrite"><m:ItemChanges><t:ItemChange>
      <t:ItemId Id="{item_id}"/><t:Updates><t:SetItemField><t:FieldURI FieldURI="contacts:DisplayName"/>
      <t:Contact><t:DisplayName>{name}</t:DisplayName></t:Contact></t:SetItemField></t:Updates>
      </t:ItemChange></m:ItemChanges></m:UpdateItem>''', impersonate=mailbox)
    assert answer.codes == ["NoError"]


def hard_delete(ews, mailbox: str, item_id: str) -> None:
    answer = ews.call(f'<m:DeleteItem DeleteType="HardDelete"><m:ItemIds><t:ItemId Id="{item_id}"/></m:ItemIds>'
                      "</m:DeleteItem>", impersonate=mailbox)
    assert answer.codes == ["NoError"]


def test_first_sync_pages_report_create_for_an_item_modified_before_its_page(ews, mailbox):
    """A is created before the page boundary and modified before page 1 is served: page 1 does not carry it,
    page 2 must report it as Create (the client never received it), not Update."""
    a, _ = make_contact(ews, "A", mailbox=mailbox)
    make_contact(ews, "B", mailbox=mailbox)
    make_contact(ews, "C", mailbox=mailbox)
    rename(ews, mailbox, a, "A renamed")
    page1, state, last = sync(ews, mailbox, None, 2)
    assert (page1, last) == ([("Create", "B"), ("Create", "C")], False)
    page2, state, last = sync(ews, mailbox, state, 2)
    assert (page2, last) == ([("Create", "A renamed")], True)


def test_change_after_the_page_that_carried_the_item_is_an_update(ews, mailbox):
    a, _ = make_contact(ews, "A", mailbox=mailbox)
    make_contact(ews, "B", mailbox=mailbox)
    make_contact(ews, "C", mailbox=mailbox)
    page1, state, _ = sync(ews, mailbox, None, 2)
    assert page1 == [("Create", "A"), ("Create", "B")]
    rename(ews, mailbox, a, "A renamed")            # A is in the client's store now
    page2, state, last = sync(ews, mailbox, state, 2)
    assert (page2, last) == ([("Create", "C"), ("Update", "A renamed")], True)
    assert sync(ews, mailbox, state, 2)[0] == []


def test_delete_is_reported_only_for_items_the_client_was_given(ews, mailbox):
    kept, _ = make_contact(ews, "Kept", mailbox=mailbox)
    changes, state, _ = sync(ews, mailbox, None, 10)
    assert changes == [("Create", "Kept")]
    ghost, _ = make_contact(ews, "Ghost", mailbox=mailbox)    # created and deleted between two syncs
    hard_delete(ews, mailbox, ghost)
    hard_delete(ews, mailbox, kept)
    changes, state, last = sync(ews, mailbox, state, 10)
    assert (changes, last) == ([("Delete", kept)], True)


def test_max_changes_returned_pages_until_includes_last_item_in_range(ews, mailbox):
    names = [f"P{n}" for n in range(5)]
    for name in names:
        make_contact(ews, name, mailbox=mailbox)
    seen, state, pages = [], None, 0
    while True:
        changes, state, last = sync(ews, mailbox, state, 2)
        pages += 1
        assert len(changes) <= 2
        seen += changes
        if last:
            break
    assert seen == [("Create", n) for n in names] and pages == 3


def test_a_corrupt_sync_state_is_refused(ews, mailbox):
    answer = ews.call('''<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>
      <m:SyncFolderId><t:DistinguishedFolderId Id="contacts"/></m:SyncFolderId>
      <m:SyncState>bm90IGEgc3luYyBzdGF0ZQ==</m:SyncState><m:MaxChangesReturned>10</m:MaxChangesReturned>
      </m:SyncFolderItems>''', impersonate=mailbox)
    assert answer.codes == ["ErrorInvalidSyncStateData"]
