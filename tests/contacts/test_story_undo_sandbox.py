"""One contact's story and `sync undo`, end to end against the sandbox (CLI entry point, real EWS over HTTPS)."""
from __future__ import annotations

import json

import pytest

from tests.sync.conftest import assert_converged, mailbox_of
from tests.sync.edits import edit
from workbench.cli import main
from workbench.exchange import mailbox_ops as ops
from workbench.exchange.mapping import CRM_ID_PROPERTY_NAME
from workbench.store import now
from workbench.store.settings_table import update
from workbench.sync.engine import run_sync

OP = "OP-004"
MOVES_AND_CREATES = {"MoveItem", "CreateItem", "UpdateItem", "DeleteItem"}


def cli_json(capsys, *argv: str) -> dict:
    capsys.readouterr()
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def first_linked(env, op=OP) -> str:
    return env.store.scalar("SELECT contact_id FROM links WHERE operator_id = ? AND contact_id LIKE 'CRM-%' "
                            "ORDER BY contact_id LIMIT 1", [op])


def places(env, address: str, cid: str) -> dict[str, int]:
    """How many items carrying ``cid`` each folder holds."""
    view = env.sandbox.mailbox(address)
    return {name: sum(1 for d in getattr(view, name) if d.get("extended_properties", {}).get(CRM_ID_PROPERTY_NAME) == cid)
            for name in ("contacts", "deleted_items", "recoverable_items")}


def remove_from_team(env, cid: str, op: str = OP) -> None:
    with env.store.write() as con:
        con.execute("DELETE FROM contact_team WHERE contact_id = ? AND operator_id = ?", [cid, op])


def writes_since(env, mark: int) -> list[str]:
    return [r.operation for r in env.sandbox.requests[mark:] if r.operation in MOVES_AND_CREATES]


def test_story_edit_overwrite_team_removal_then_undo_once(env, capsys):
    run_sync(env.store, [OP])
    cid = first_linked(env)
    address = mailbox_of(env.store, OP)
    # 1. edited in Exchange (Outlook) and in the CRM: crm-wins (the default) overwrites the Outlook edit
    edit(env, address, cid, job_title="Outlook title")
    with env.store.write() as con:
        con.execute("UPDATE contacts SET job_title = 'CRM title', updated_at = ? WHERE contact_id = ?", [now(), cid])
    overwrite = run_sync(env.store, [OP])
    # 2. the operator leaves the contact's team in the CRM: the run deletes the item (to Deleted Items)
    remove_from_team(env, cid)
    removal = run_sync(env.store, [OP])
    assert removal.mailbox(OP).status == "ok"
    assert places(env, address, cid) == {"contacts": 0, "deleted_items": 1, "recoverable_items": 0}

    story = cli_json(capsys, "contacts", "show", cid)
    ok = [j for j in story["journal"] if j["outcome"] == "ok" and j["action"] not in ("snapshot", "batch")]
    steps = [(j["run_id"], j["action"]) for j in ok]
    assert steps.index((overwrite.run_id, "update-exchange")) < steps.index((removal.run_id, "delete-exchange"))
    written = next(j for j in ok if j["run_id"] == overwrite.run_id and j["action"] == "update-exchange")
    assert written["rule"] == "conflict: crm wins" and written["side"] == "CRM → Exchange"
    assert "job_title: 'Outlook title' → 'CRM title'" in written["values"]
    assert story["deletes"][0]["went_to"] == "deleted-items" and story["deletes"][0]["run_id"] == removal.run_id
    assert OP not in [t["operator_id"] for t in story["team"]]

    # 3. undo of the removal run: moved back from Deleted Items, once
    dry = cli_json(capsys, "sync", "undo", str(removal.run_id), "--dry-run")
    assert [c["how"] for c in dry["contacts"]] == ["moved-from-deleted-items"] and dry["restored"] == 0
    assert places(env, address, cid)["deleted_items"] == 1
    mark = len(env.sandbox.requests)
    done = cli_json(capsys, "sync", "undo", str(removal.run_id))
    assert done["restored"] == 1 and writes_since(env, mark) == ["MoveItem"]
    assert places(env, address, cid) == {"contacts": 1, "deleted_items": 0, "recoverable_items": 0}
    mark = len(env.sandbox.requests)
    again = cli_json(capsys, "sync", "undo", str(removal.run_id))
    assert again["restored"] == 0 and again["already_restored"] == 1 and writes_since(env, mark) == []

    # the contact is back on the team and linked: the next sync deletes nothing and changes nothing for it
    after = run_sync(env.store, [OP])
    assert not (after.plan.writes["contact_id"] == cid).any()
    assert places(env, address, cid)["contacts"] == 1
    assert_converged(env, [OP])
    story = cli_json(capsys, "contacts", "show", cid)
    restore = [j for j in story["journal"] if j["action"] == "restore"]
    assert [r["outcome"] for r in restore] == ["ok"] and "moved back from Deleted Items" in restore[0]["detail"]
    assert story["deletes"][0]["restored_how"] == "moved-from-deleted-items"
    # (the other team members' mailboxes were only synced by the first run: their next actions are theirs)
    assert [a for a in story["next_actions"] if a["operator_id"] == OP and a["action"] != "skip"] == []


def purge_from_deleted_items(env, address: str, cid: str) -> None:
    """What a user does when emptying Deleted Items: the item is gone for good (HardDelete)."""
    with env.connect() as conn:
        acc = ops.open_mailbox(conn, address)
        items = list(acc.trash.filter(crm_id=cid))
        assert len(items) == 1
        items[0].delete()


@pytest.mark.parametrize("delete_to, purge, how", [
    ("deleted-items", True, "recreated"),
    ("recoverable-items", False, "moved-from-recoverable-items"),
    ("hard", False, "recreated"),
])
def test_undo_moves_back_or_recreates_with_the_same_crm_id(env, capsys, delete_to, purge, how):
    run_sync(env.store, [OP])
    update(env.store, {"delete_to": delete_to}, source="test")
    cid = first_linked(env)
    address = mailbox_of(env.store, OP)
    before = env.store.df("SELECT * FROM contacts WHERE contact_id = ?", [cid]).iloc[0]
    with env.store.write() as con:        # deleted in the CRM: the run deletes the item
        con.execute("UPDATE contacts SET deleted_at = ? WHERE contact_id = ?", [now(), cid])
    removal = run_sync(env.store, [OP])
    if purge:
        purge_from_deleted_items(env, address, cid)
    assert places(env, address, cid)["contacts"] == 0
    mark = len(env.sandbox.requests)
    done = cli_json(capsys, "sync", "undo", str(removal.run_id), "--operator", OP)
    assert [c["how"] for c in done["contacts"]] == [how] and done["restored"] == 1
    assert writes_since(env, mark) == (["CreateItem"] if how == "recreated" else ["MoveItem"])
    assert places(env, address, cid)["contacts"] == 1
    back = next(d for d in env.sandbox.mailbox(address).contacts
                if d.get("extended_properties", {}).get(CRM_ID_PROPERTY_NAME) == cid)
    assert back["job_title"] == before["job_title"] and back["surname"] == before["surname"]
    assert env.store.scalar("SELECT deleted_at IS NULL FROM contacts WHERE contact_id = ?", [cid])
    mark = len(env.sandbox.requests)
    assert cli_json(capsys, "sync", "undo", str(removal.run_id))["restored"] == 0
    after = run_sync(env.store, [OP])
    assert not (after.plan.writes["contact_id"] == cid).any() and writes_since(env, mark) == []
    assert_converged(env, [OP])


def test_undo_refuses_an_unknown_run_and_a_dry_run(env, capsys):
    dry = run_sync(env.store, dry_run=True)
    for run in ("999", str(dry.run_id)):
        capsys.readouterr()
        assert main(["sync", "undo", run]) == 2
        err = capsys.readouterr().err
        assert err.startswith("RUN_NOT_FOUND: No such sync run — ") and f"run={run}" in err
        assert "Traceback" not in err
