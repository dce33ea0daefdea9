"""The in-memory backend keeps Exchange's rules (so the state machine over it proves something), and the engine
recovers from its faults as it does against the sandbox."""
from __future__ import annotations

import pytest

from tests.fakes.memory_backend import MemoryBackend
from tests.sync.world import World
from workbench.errors import WorkbenchError
from workbench.mailbox import CONFLICT, GONE, ItemRef, Mailbox, MailboxBackend, StateInvalid, item_problem
from workbench.sync.engine import run_sync
from workbench.sync.preview import preview

CAT = "PegaSASync"


def _box():
    be = MemoryBackend(batch_size=10)
    return be, be.add_mailbox("op-1@example.com")


def test_it_is_a_mailbox_backend():
    be, box = _box()
    assert isinstance(be, MailboxBackend) and isinstance(box, Mailbox)


def test_a_stale_change_key_is_a_conflict_and_a_missing_id_is_gone():
    be, box = _box()
    [ref] = box.create([{"fields": {"given_name": "Ann"}, "crm_id": "C-1", "categories": [CAT]}], 10)
    box.user_edit(ref.item_id, job_title="edited in Outlook")
    [stale, gone] = box.update([{"item_id": ref.item_id, "change_key": ref.change_key, "fields": {"given_name": "X"},
                                 "crm_id": "C-1", "categories": [CAT]},
                                {"item_id": "nope", "change_key": None, "fields": None, "crm_id": "C-2",
                                 "categories": [CAT]}], 10)
    assert item_problem(stale) == CONFLICT and stale.code == "EWS_CONFLICT"
    assert item_problem(gone) == GONE
    assert box.contacts()[0]["given_name"] == "Ann"           # never written over
    [deleted, missing] = box.delete([(ref.item_id, None), ("nope", None)], 10)
    assert deleted is True and item_problem(missing) == GONE
    assert box.contacts() == [] and len(box.in_folder("deleted-items")) == 1
    assert box.items[box.in_folder("deleted-items")[0]]["item_id"] != ref.item_id   # a move gives a new id


def test_every_write_gives_a_new_change_key_and_a_lost_answer_was_applied():
    be, box = _box()
    box.faults.lost_answers = 1
    with pytest.raises(WorkbenchError) as lost:
        box.create([{"fields": {"given_name": "Ann"}, "crm_id": "C-1", "categories": [CAT]}], 10)
    assert lost.value.failure.transient
    [row] = box.contacts()
    [ref] = box.update([{"item_id": row["item_id"], "change_key": row["change_key"], "fields": None,
                         "crm_id": "C-1", "categories": [CAT, "Blue"]}], 10)
    assert isinstance(ref, ItemRef) and ref.change_key != row["change_key"]
    assert [w[0] for w in be.writes] == ["create", "stamp"]


def test_throttling_carries_the_back_off_and_changes_since_resumes_from_its_state():
    be, box = _box()
    box.faults.throttle = 1
    with pytest.raises(WorkbenchError) as busy:
        box.snapshot(10)
    assert busy.value.code == "EWS_THROTTLED" and busy.value.back_off == be.back_off
    first = box.user_create(categories=[CAT], given_name="Ann")
    [page] = list(box.changes_since(None, 10))
    assert [r["item_id"] for r in page.upserts] == [first] and not page.from_state
    second = box.user_create(categories=[CAT], given_name="Bob")
    moved = box.user_delete(first)
    [page] = list(box.changes_since(page.state, 10))
    assert {r["item_id"] for r in page.upserts} == {second} and page.deleted_item_ids == [first]
    assert moved not in {r["item_id"] for r in page.upserts}
    box.state_epoch += 1
    with pytest.raises(StateInvalid):
        list(box.changes_since(page.state, 10))


def test_a_lost_create_answer_is_found_by_crm_id_not_created_twice(tmp_path):
    w = World(tmp_path / "s.duckdb").settings(contact_integration=True, failure_recipients="ops@example.com",
                                              batch_size=10)
    w.op("OP-1")
    for i in range(3):
        w.contact(f"C-{i}")
    be = MemoryBackend(batch_size=10)
    box = be.add_mailbox("op-1@example.com")
    box.faults.lost_answers = 1
    result = run_sync(w.store, backend=be, clock=be.clock)
    assert result.status == "ok" and result.retries == 1
    assert sorted(r["crm_id"] for r in box.contacts()) == ["C-0", "C-1", "C-2"]
    assert [w[0] for w in be.writes] == ["create"] * 3


def test_a_restored_item_of_a_crm_deleted_contact_is_deleted_and_its_link_dropped_in_one_run(tmp_path):
    # found by tests/sync/test_sync_machine.py: the item's old link stayed, so a second run had to forget it.
    # The delete of the only link is 100% of the mailbox's links: the guard is not what this is about
    w = World(tmp_path / "s.duckdb").settings(contact_integration=True, failure_recipients="ops@example.com",
                                              batch_size=10, mass_delete_percent=100)
    w.op("OP-1")
    w.contact("C-1")
    be = MemoryBackend(batch_size=10)
    box = be.add_mailbox("op-1@example.com")
    assert run_sync(w.store, backend=be, clock=be.clock).status == "ok"
    [item] = box.contacts()
    box.user_restore(box.user_delete(item["item_id"]))
    w.store.rows("UPDATE contacts SET deleted_at = now() WHERE contact_id = 'C-1' RETURNING contact_id")
    assert run_sync(w.store, backend=be, clock=be.clock).status == "ok"
    assert box.contacts() == []
    assert w.store.scalar("SELECT count(*) FROM links") == 0
    assert preview(w.store, backend=be).plan.writes.empty
