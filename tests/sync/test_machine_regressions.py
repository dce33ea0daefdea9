"""The sync-rule bugs the state machine (``test_sync_machine.py``) found, each as a small deterministic story over
the in-memory backend, the real engine and a real store (README, test section; issue #18)."""
from __future__ import annotations

from collections import Counter

from tests.fakes.memory_backend import MemoryBackend
from tests.sync.world import World
from workbench.sync.engine import run_sync
from workbench.sync.preview import preview

CAT = "PegaSASync"


def _world(tmp_path, *ops: str) -> tuple[World, MemoryBackend]:
    w = World(tmp_path / "s.duckdb").settings(contact_integration=True, failure_recipients="ops@example.com",
                                              batch_size=10, mass_delete_percent=100)
    be = MemoryBackend(batch_size=10)
    for op in ops:
        w.op(op)
        be.add_mailbox(f"{op.lower()}@example.com")
    return w, be


def _sync(w: World, be: MemoryBackend):
    result = run_sync(w.store, backend=be, clock=be.clock)
    assert result.status == "ok", result.to_json()["mailboxes"]
    return result


def _one_contact_synced(tmp_path, **fields):
    """OP-1 with contact C-1 (``fields``) synced once into its mailbox: (world, backend, mailbox)."""
    w, be = _world(tmp_path, "OP-1")
    box = be.mailbox("op-1@example.com")
    w.contact("C-1", **fields)
    _sync(w, be)
    return w, be, box


def _crm_ids(box) -> Counter:
    return Counter(r["crm_id"] for r in box.contacts() if r["crm_id"])


def item_id_of(box, crm_id: str) -> str:
    [hit] = [r["item_id"] for r in box.contacts() if r["crm_id"] == crm_id]
    return hit


def _team(w: World, contact_id: str) -> set[str]:
    return {r[0] for r in w.store.rows("SELECT operator_id FROM contact_team WHERE contact_id = ?", [contact_id])}


def test_a_decategorised_item_is_adopted_again_when_its_contact_rejoins_the_team(tmp_path):
    w, be, box = _one_contact_synced(tmp_path, job_title="Buyer")
    [item] = box.contacts()
    box.user_edit(item["item_id"], categories=["Personal"])       # the user stops syncing it
    _sync(w, be)
    assert _team(w, "C-1") == set() and box.contacts()[0]["categories"] == ["Personal"]
    w.contact("C-1", job_title="Head buyer")                      # back on the team, edited meanwhile
    mark = len(be.writes)
    _sync(w, be)
    assert _crm_ids(box) == {"C-1": 1}
    [again] = box.contacts()
    assert [k for k, *_ in be.writes[mark:]] == ["update"]         # the same item, not a second one
    assert CAT in again["categories"] and again["job_title"] == "Head buyer"
    assert w.store.rows("SELECT item_id FROM links WHERE contact_id = 'C-1'") == [(again["item_id"],)]
    assert preview(w.store, backend=be).plan.writes.empty


def test_an_email_match_never_gives_a_second_item_the_crm_id_a_decategorised_item_carries(tmp_path):
    # found by the machine at 16 examples: the de-categorised item kept C-1's id, a new categorised item with C-1's
    # e-mail matched C-1 by e-mail (joining the team) and was stamped with C-1's id too
    w, be, box = _one_contact_synced(tmp_path)
    [item] = box.contacts()
    box.user_edit(item["item_id"], categories=["Personal"])
    _sync(w, be)
    box.user_create(categories=[CAT], given_name="Ann", surname="Outlook", email="c-1@crm.test")
    mark = len(be.writes)
    result = _sync(w, be)
    assert be.writes[mark:] == [] and _crm_ids(box) == {"C-1": 1}
    skips = result.plan.actions[result.plan.actions["action"] == "skip"]
    assert set(zip(skips["contact_id"], skips["code"])) >= {("C-1", "AMBIGUOUS_MATCH")}
    assert _team(w, "C-1") == set()
    assert preview(w.store, backend=be).plan.writes.empty
    w.contact("C-1")                                              # back on the team: its own item is adopted
    _sync(w, be)
    assert _crm_ids(box) == {"C-1": 1}
    assert w.store.rows("SELECT item_id FROM links WHERE contact_id = 'C-1'") == [(item_id_of(box, "C-1"),)]
    assert preview(w.store, backend=be).plan.writes.empty


def _moved_back(box) -> str:
    """The user deletes the only item in Outlook and moves it back from Deleted Items (a new item id)."""
    [item] = box.contacts()
    return box.user_restore(box.user_delete(item["item_id"]))


def test_a_restore_racing_a_team_removal_settles_in_one_run(tmp_path):
    # the link kept pointing at the old id: run 1 forgot it and skipped the restored item as a duplicate, run 2
    # matched that item by CRM id and put the operator back on the team the CRM had just taken it off
    w, be, box = _one_contact_synced(tmp_path)
    _moved_back(box)
    w.contact("C-1", team=())                                   # the CRM takes the operator off the team
    result = _sync(w, be)
    assert result.plan.counts() == {"delete-exchange": 1}
    assert box.contacts() == [] and [box.items[i]["crm_id"] for i in box.in_folder("deleted-items")] == ["C-1"]
    assert _team(w, "C-1") == set() and w.store.scalar("SELECT count(*) FROM links") == 0
    assert preview(w.store, backend=be).plan.writes.empty


def test_a_restore_racing_a_crm_delete_settles_in_one_run(tmp_path):
    w, be = _world(tmp_path, "OP-1", "OP-2")
    w.contact("C-1", team=("OP-1", "OP-2"))
    _sync(w, be)
    for op in ("OP-1", "OP-2"):
        _moved_back(be.mailbox(f"{op.lower()}@example.com"))
    w.store.rows("UPDATE contacts SET deleted_at = now() WHERE contact_id = 'C-1' RETURNING contact_id")
    _sync(w, be)
    assert all(box.contacts() == [] for box in be.mailboxes.values())
    assert w.store.scalar("SELECT count(*) FROM links") == 0
    assert preview(w.store, backend=be).plan.writes.empty


def test_a_restore_racing_a_crm_edit_pushes_the_edit_whatever_the_conflict_policy(tmp_path):
    # matched again by CRM id without its link, the pair looked changed on both sides: exchange-wins then wrote
    # the item's old values over the CRM edit
    w, be = _world(tmp_path, "OP-1")
    w.settings(conflict_policy="exchange-wins")
    box = be.mailbox("op-1@example.com")
    w.contact("C-1", job_title="Buyer")
    _sync(w, be)
    _moved_back(box)
    w.edit_contact("C-1", job_title="Head buyer")
    result = _sync(w, be)
    assert result.plan.counts() == {"update-exchange": 1}
    assert box.contacts()[0]["job_title"] == "Head buyer"
    assert w.store.scalar("SELECT job_title FROM contacts WHERE contact_id = 'C-1'") == "Head buyer"
    assert preview(w.store, backend=be).plan.writes.empty


def test_a_team_removal_is_not_undone_by_the_users_own_item_with_that_e_mail(tmp_path):
    # found by the machine (a team removal, restores and faults): the run after the removal matched the user's
    # item by e-mail, put the operator back on the team and planned an update, so one clean run did not settle
    w, be, box = _one_contact_synced(tmp_path)
    mine = box.user_create(categories=[CAT], given_name="Ann", surname="Outlook", email="c-1@crm.test")
    _sync(w, be)
    w.contact("C-1", team=())                                    # the CRM takes the operator off the team
    result = _sync(w, be)
    assert result.plan.counts() == {"delete-exchange": 1, "skip": 1}
    assert [r["item_id"] for r in box.contacts()] == [mine] and _team(w, "C-1") == set()
    again = preview(w.store, backend=be).plan
    assert again.writes.empty, again.writes[["action", "contact_id", "item_id", "reason"]]
    skip = again.actions.iloc[0]
    assert (skip["action"], skip["code"], skip["item_id"]) == ("skip", "AMBIGUOUS_MATCH", mine)
    w.contact("C-1")                                             # back on the team: the user's item is its item
    _sync(w, be)
    assert _crm_ids(box) == {"C-1": 1} and item_id_of(box, "C-1") == mine
    assert preview(w.store, backend=be).plan.writes.empty


def test_an_update_crm_found_stale_before_its_stamp_writes_nothing_to_exchange(tmp_path):
    # found by the machine once restores were free: OP-1's update-crm changed the contact first, so OP-2's (an
    # e-mail join) was skipped PLAN_STALE, yet its item had been stamped with the CRM id: a write not journaled
    w, be = _world(tmp_path, "OP-1", "OP-2")
    w.settings(conflict_policy="exchange-wins", max_concurrent_mailboxes=1)
    w.contact("C-1")
    _sync(w, be)
    one, two = be.mailbox("op-1@example.com"), be.mailbox("op-2@example.com")
    one.user_edit(one.contacts()[0]["item_id"], job_title="edited for OP-1")
    theirs = two.user_create(categories=[CAT], given_name="Ann", surname="Outlook", email="c-1@crm.test")
    mark = len(be.writes)
    result = run_sync(w.store, backend=be, clock=be.clock)
    assert result.mailbox("OP-2").code == "PLAN_STALE" and result.mailbox("OP-2").stale == 1
    assert be.writes[mark:] == [] and two.items[theirs]["crm_id"] is None
    _sync(w, be)                                                 # the next run decides with the CRM as it is now
    assert _crm_ids(two) == {"C-1": 1} and _team(w, "C-1") == {"OP-1", "OP-2"}
    assert preview(w.store, backend=be).plan.writes.empty
