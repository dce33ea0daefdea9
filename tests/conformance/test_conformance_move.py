"""MoveItem as Microsoft documents it: back to Contacts from Deleted Items and Recoverable Items\\Deletions
(what `workbench sync undo` sends), new ids in the answer unless ReturnNewItemIds is false."""
from __future__ import annotations

import pytest

from tests.conformance.conftest import make_contact
from tests.conformance.test_conformance_delete_ids import delete, find_names, get_codes


def move(ews, item_id: str, to: str, *, return_new_ids: str | None = None):
    flag = f"<m:ReturnNewItemIds>{return_new_ids}</m:ReturnNewItemIds>" if return_new_ids is not None else ""
    return ews.call(f'<m:MoveItem><m:ToFolderId><t:DistinguishedFolderId Id="{to}"/></m:ToFolderId>'
                    f'<m:ItemIds><t:ItemId Id="{item_id}"/></m:ItemIds>{flag}</m:MoveItem>')


@pytest.mark.parametrize("delete_type, folder", [("MoveToDeletedItems", "deleteditems"),
                                                 ("SoftDelete", "recoverableitemsdeletions")])
def test_move_back_to_contacts_gives_a_new_id(ews, delete_type, folder):
    name = f"Restore {delete_type}"
    item_id, _ = make_contact(ews, name)
    delete(ews, item_id, delete_type)
    parked = find_names(ews, folder)[name]
    answer = move(ews, parked, "contacts")
    assert answer.codes == ["NoError"]
    assert answer.find(".//m:MoveItemResponseMessage") is not None
    new = answer.find(".//m:MoveItemResponseMessage/m:Items/t:Contact/t:ItemId")
    assert new is not None and new.get("Id") not in (item_id, parked) and new.get("ChangeKey")
    assert find_names(ews, "contacts")[name] == new.get("Id")
    assert name not in find_names(ews, folder)
    assert get_codes(ews, parked) == ["ErrorItemNotFound"]


def test_move_without_new_ids_and_of_a_missing_item(ews):
    item_id, _ = make_contact(ews, "Restore Quietly")
    delete(ews, item_id, "MoveToDeletedItems")
    parked = find_names(ews, "deleteditems")["Restore Quietly"]
    answer = move(ews, parked, "contacts", return_new_ids="false")
    assert answer.codes == ["NoError"] and answer.findall(".//m:Items/*") == []
    assert "Restore Quietly" in find_names(ews, "contacts")
    gone = move(ews, parked, "contacts")                               # its old id: moved already
    assert gone.codes == ["ErrorItemNotFound"] and gone.find(".//m:MoveItemResponseMessage/m:Items") is not None
