"""SyncFolderItems: opaque state, paging with MaxChangesReturned, create/update/delete."""
from __future__ import annotations

import pytest
from exchangelib import Contact
from exchangelib.errors import ErrorInvalidSyncStateData
from exchangelib.items import HARD_DELETE


def drain(folder, state, max_changes=512):
    changes = list(folder.sync_items(sync_state=state, max_changes_returned=max_changes))
    return changes, folder.item_sync_state


def test_sync_creates_updates_deletes(sandbox, account):
    acc = account(sandbox, "bob.smith@example.com")
    _, state = drain(acc.contacts, None)
    created = acc.bulk_create(acc.contacts, [Contact(display_name=f"Sync {i}", crm_id=f"S-{i}") for i in range(7)])
    before = sum(1 for r in sandbox.requests if r.operation == "SyncFolderItems")
    changes, state2 = drain(acc.contacts, state, max_changes=3)
    calls = sum(1 for r in sandbox.requests if r.operation == "SyncFolderItems") - before
    assert calls == 3          # 3 + 3 + 1
    assert [k for k, _ in changes] == ["create"] * 7
    assert sorted(i.crm_id for _, i in changes) == sorted(f"S-{i}" for i in range(7))
    item = acc.contacts.get(id=created[0].id)
    item.job_title = "Changed"
    item.save(update_fields=["job_title"])
    acc.bulk_delete([created[1]], delete_type=HARD_DELETE)
    created_and_gone = acc.bulk_create(acc.contacts, [Contact(display_name="Blink")])
    acc.bulk_delete(created_and_gone, delete_type=HARD_DELETE)
    changes, state3 = drain(acc.contacts, state2)
    kinds = {(k, getattr(i, "id", None)) for k, i in changes}
    assert ("update", created[0].id) in kinds and ("delete", created[1].id) in kinds
    assert len(changes) == 2   # the item created and deleted in between does not show up
    assert [i.job_title for k, i in changes if k == "update"] == ["Changed"]
    assert drain(acc.contacts, state3)[0] == []
    last = [r for r in sandbox.requests if r.operation == "SyncFolderItems"][-1]
    assert last.flags == ("SyncState",)


def test_bad_sync_state_is_refused(sandbox, account):
    acc = account(sandbox, "bob.smith@example.com")
    with pytest.raises(ErrorInvalidSyncStateData):
        list(acc.contacts.sync_items(sync_state="bm90IGEgc3RhdGU="))
    _, inbox_state = drain(acc.inbox, None)
    with pytest.raises(ErrorInvalidSyncStateData):
        list(acc.contacts.sync_items(sync_state=inbox_state))
