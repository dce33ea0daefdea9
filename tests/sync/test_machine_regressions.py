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


def _crm_ids(box) -> Counter:
    return Counter(r["crm_id"] for r in box.contacts() if r["crm_id"])


def item_id_of(box, crm_id: str) -> str:
    [hit] = [r["item_id"] for r in box.contacts() if r["crm_id"] == crm_id]
    return hit


def _team(w: World, contact_id: str) -> set[str]:
    return {r[0] for r in w.store.rows("SELECT operator_id FROM contact_team WHERE contact_id = ?", [contact_id])}


def test_a_decategorised_item_is_adopted_again_when_its_contact_rejoins_the_team(tmp_path):
    w, be = _world(tmp_path, "OP-1")
    box = be.mailbox("op-1@example.com")
    w.contact("C-1", job_title="Buyer")
    _sync(w, be)
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
    w, be = _world(tmp_path, "OP-1")
    box = be.mailbox("op-1@example.com")
    w.contact("C-1")
    _sync(w, be)
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
