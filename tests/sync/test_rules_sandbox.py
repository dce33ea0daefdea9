"""Each sync rule, end to end against the sandbox (Python API and CLI)."""
from __future__ import annotations

import json

import pytest

from tests.sync.conftest import CAT, assert_converged, mailbox_of, mailbox_rows, ok_operators, writes_since
from tests.sync.edits import add_contact, edit, trash
from workbench.cli import main
from workbench.store import now
from workbench.store.settings_table import update
from workbench.sync.engine import run_sync

OP = "OP-004"


def linked(env, op=OP, n=6):
    return [r[0] for r in env.store.rows("SELECT contact_id FROM links WHERE operator_id = ? AND contact_id LIKE 'CRM-%' "
                                         "ORDER BY contact_id LIMIT ?", [op, n])]


def on_team(env, contact_id, op=OP):
    return bool(env.store.scalar("SELECT count(*) FROM contact_team WHERE contact_id = ? AND operator_id = ?",
                                 [contact_id, op]))


def test_deletes_and_category_removal_each_way(env):
    run_sync(env.store)
    a, b, c, d = linked(env)[:4]
    address = mailbox_of(env.store, OP)
    trash(env, address, a)                              # Exchange delete
    edit(env, address, b, categories=["Personal"])     # category removed
    with env.store.write() as con:                      # CRM delete and team removal
        con.execute("UPDATE contacts SET deleted_at = ? WHERE contact_id = ?", [now(), c])
        con.execute("DELETE FROM contact_team WHERE contact_id = ? AND operator_id = ?", [d, OP])
    result = run_sync(env.store, [OP], allow_mass_delete=True)
    assert result.mailbox(OP).status == "ok"
    # Exchange side gone -> operator off the team, the CRM contact stays
    for cid in (a, b):
        assert not on_team(env, cid)
        assert env.store.scalar("SELECT deleted_at IS NULL FROM contacts WHERE contact_id = ?", [cid])
    rows = {r["crm_id"]: r for r in mailbox_rows(env.sandbox, address)}
    assert rows[b]["categories"] == ["Personal"]        # the de-categorised item is left alone
    # CRM side gone -> the item is in Deleted Items (recoverable), the CRM contact of d stays
    deleted = {d_["extended_properties"].get("WorkbenchCrmContactId")
               for d_ in env.sandbox.mailbox(address).deleted_items}
    assert {a, c, d} <= deleted and c not in rows and d not in rows
    assert env.store.scalar("SELECT deleted_at IS NULL FROM contacts WHERE contact_id = ?", [d])
    assert env.store.scalar("SELECT count(*) FROM links WHERE operator_id = ? AND contact_id IN (?, ?, ?, ?)",
                            [OP, a, b, c, d]) == 0
    mark = len(env.sandbox.requests)
    again = run_sync(env.store, [OP])
    assert again.plan.is_empty and writes_since(env.sandbox, mark) == []
    assert_converged(env, [OP])


@pytest.mark.parametrize("delete_to, folder", [("deleted-items", "deleted_items"),
                                               ("recoverable-items", "recoverable_items"), ("hard", None)])
def test_crm_delete_puts_the_item_where_delete_to_says(env, delete_to, folder):
    """delete_to decides the DeleteItem DeleteType: Deleted Items, Recoverable Items\\Deletions, or gone."""
    run_sync(env.store)
    update(env.store, {"delete_to": delete_to}, source="test")
    cid = linked(env, n=1)[0]
    address = mailbox_of(env.store, OP)
    with env.store.write() as con:
        con.execute("UPDATE contacts SET deleted_at = ? WHERE contact_id = ?", [now(), cid])
    mark = len(env.sandbox.requests)
    result = run_sync(env.store, [OP])
    assert result.mailbox(OP).status == "ok"
    assert [r.operation for r in writes_since(env.sandbox, mark)] == ["DeleteItem"]
    view = env.sandbox.mailbox(address)
    places = {name: {d["extended_properties"].get("WorkbenchCrmContactId") for d in getattr(view, name)}
              for name in ("contacts", "deleted_items", "recoverable_items")}
    assert {name for name, ids in places.items() if cid in ids} == ({folder} if folder else set())
    assert not env.store.scalar("SELECT count(*) FROM links WHERE operator_id = ? AND contact_id = ?", [OP, cid])
    again = run_sync(env.store, [OP])
    assert again.plan.is_empty
    assert_converged(env, [OP])


@pytest.mark.parametrize("policy", ["crm-wins", "exchange-wins", "manual"])
def test_conflict_under_each_policy(env, policy):
    run_sync(env.store)
    update(env.store, {"conflict_policy": policy}, source="test")
    cid = linked(env)[0]
    address = mailbox_of(env.store, OP)
    others = [r[0] for r in env.store.rows("SELECT operator_id FROM links WHERE contact_id = ? AND operator_id <> ?",
                                           [cid, OP])]
    with env.store.write() as con:
        con.execute("UPDATE contacts SET job_title = 'CRM title' WHERE contact_id = ?", [cid])
    edit(env, address, cid, job_title="Outlook title")
    result = run_sync(env.store)
    crm_value = env.store.scalar("SELECT job_title FROM contacts WHERE contact_id = ?", [cid])
    ex_value = {r["crm_id"]: r for r in mailbox_rows(env.sandbox, address)}[cid]["job_title"]
    if policy == "crm-wins":
        assert (crm_value, ex_value) == ("CRM title", "CRM title")
        over = result.plan.actions[result.plan.actions.contact_id == cid]
        assert over.conflict.all() and (over.winner == "crm").all()
    elif policy == "exchange-wins":
        assert (crm_value, ex_value) == ("Outlook title", "Outlook title")
        for op in others:      # propagated to the other mailboxes linked to the contact in the same run
            other = {r["crm_id"]: r for r in mailbox_rows(env.sandbox, mailbox_of(env.store, op))}
            assert other[cid]["job_title"] == "Outlook title"
    else:
        assert (crm_value, ex_value) == ("CRM title", "Outlook title")
        assert env.store.scalar("SELECT count(*) FROM sync_log WHERE run_id = ? AND contact_id = ? "
                                "AND code = 'CONFLICT_MANUAL'", [result.run_id, cid]) == 1
    if policy != "manual":
        mark = len(env.sandbox.requests)
        assert run_sync(env.store).plan.is_empty
        assert writes_since(env.sandbox, mark, exclude_mailbox=env.info.service_account.username) == []


def test_skips_first_push_category_and_email_match(env):
    seed = json.loads((env.seed_dir / "exchange_seed.json").read_text())
    result = run_sync(env.store)
    log = env.store.df("SELECT * FROM sync_log WHERE run_id = ?", [result.run_id])
    emails = {e.lower() for e in env.store.df("SELECT email FROM contacts WHERE email IS NOT NULL")["email"]}
    for mb in seed["mailboxes"]:
        op = env.store.scalar("SELECT operator_id FROM operators WHERE lower(email) IN ({})".format(
            ", ".join("?" for _ in [mb["primary_address"], *mb["aliases"]])),
            [a.lower() for a in [mb["primary_address"], *mb["aliases"]]])
        if op is None or op not in ok_operators(result):
            continue
        rows = mailbox_rows(env.sandbox, mailbox_of(env.store, op))
        for c in mb["contacts"]:
            same = [r for r in rows if (r["email"] or "").lower() == (c["email"] or "").lower()]
            if c["private"] or not c["categories"]:
                assert c["email"].lower() not in emails                     # never reached the CRM
                assert all(r["crm_id"] is None for r in same)
            else:
                assert len(same) == 1 and same[0]["crm_id"]                # e-mail match linked, no duplicate
        for r in rows:
            if r["crm_id"]:
                assert CAT in r["categories"]                               # first push adds the category
    assert {"SKIPPED_PRIVATE", "SKIPPED_NO_CATEGORY"} <= set(log["code"].dropna())


@pytest.mark.parametrize("direction", ["crm-to-exchange", "exchange-to-crm"])
def test_direction_settings_are_respected(env, direction):
    update(env.store, {"sync_direction": direction}, source="test")
    before = env.store.scalar("SELECT count(*) FROM contacts")
    mark = len(env.sandbox.requests)
    result = run_sync(env.store, [OP])
    address = mailbox_of(env.store, OP)
    creates = [r for r in env.sandbox.requests[mark:] if r.operation == "CreateItem"
               and (r.mailbox or "").lower() == address.lower()]
    crm_ids = {r["crm_id"] for r in mailbox_rows(env.sandbox, address) if r["crm_id"]}
    team = {r[0] for r in env.store.rows("SELECT contact_id FROM contact_team WHERE operator_id = ?", [OP])}
    if direction == "crm-to-exchange":
        assert env.store.scalar("SELECT count(*) FROM contacts") == before       # nothing created in the CRM
        assert creates and crm_ids <= team
        assert (result.plan.actions.query("code == 'SKIPPED_DIRECTION'").shape[0]) > 0
    else:
        assert not creates                                                       # nothing pushed to Exchange
        assert env.store.scalar("SELECT count(*) FROM contacts") > before
        assert any(cid.startswith("EXC-") for cid in team)                       # Outlook-only -> CRM
        assert not any(cid.startswith("CRM-") and cid in crm_ids for cid in team
                       if env.store.scalar("SELECT count(*) FROM links WHERE contact_id = ?", [cid]) == 0)


def test_mass_delete_guard_stops_the_mailbox_unless_allowed(env, capsys):
    run_sync(env.store)
    address = mailbox_of(env.store, OP)
    ids = linked(env, n=50)
    for cid in ids[: len(ids) // 2 + 1]:
        trash(env, address, cid)
    result = run_sync(env.store, [OP])
    assert result.mailbox(OP).status == "guarded" and result.mailbox(OP).code == "MASS_DELETE"
    assert all(on_team(env, cid) for cid in ids)
    assert main(["sync", "run", "--operator", OP, "--allow-mass-delete", "--json", "--no-progress"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mailboxes"][0]["status"] == "ok"
    assert not any(on_team(env, cid) for cid in ids[: len(ids) // 2 + 1])


def test_cli_preview_run_and_log(env, capsys):
    add_contact(env, mailbox_of(env.store, OP), display_name="New Person", given_name="New", surname="Person",
                categories=[CAT])
    assert main(["sync", "preview", "--operator", OP, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    actions = {(r["operator_id"], r["action"]): r["count"] for r in data["summary"]}
    assert actions[(OP, "create-exchange")] > 0 and actions[(OP, "create-crm")] >= 1
    assert any(d["field"] == "given_name" and d["after"] == "New" for d in data["detail"])
    assert main(["sync", "preview", "--operator", OP, "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith("operator_id,action,contact_id,item_id,reason,code,field,before,after")
    assert main(["sync", "run", "--operator", OP, "--dry-run", "--no-progress"]) == 0
    assert "(dry run)" in capsys.readouterr().out
    assert env.store.scalar("SELECT count(*) FROM links") == 0
    assert main(["sync", "run", "--operator", OP, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"{OP}" in out and " ok " in out
    assert main(["log", "--operator", OP, "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert {e["outcome"] for e in entries} >= {"planned", "ok"}
    assert main(["log", "--failed"]) == 0
    assert "no journal entries match" in capsys.readouterr().out
    assert main(["sync", "preview", "--operator", OP]) == 0
    assert "nothing to do" in capsys.readouterr().out


def _restore(env, address, crm_id):
    """The user moves the contact's item back from Deleted Items (a move gives it a new id)."""
    from workbench.exchange import mailbox_ops as ops
    from workbench.exchange.mapping import CRM_ID_FIELD
    with env.connect() as conn:
        acc = ops.open_mailbox(conn, address)
        [item] = list(acc.trash.filter(**{CRM_ID_FIELD: crm_id}))
        item.move(acc.contacts)


def test_a_decategorised_item_stays_the_contacts_one_item_and_a_moved_item_keeps_its_link(env):
    """Found by the sync state machine (issue #18): the de-categorised item keeps the CRM id, so an e-mail match
    never stamps that id on a second item; a restore racing a team removal settles in one run."""
    from exchangelib.indexed_properties import EmailAddress
    run_sync(env.store)
    a, b = linked(env, n=2)
    address = mailbox_of(env.store, OP)
    email = env.store.scalar("SELECT email FROM contacts WHERE contact_id = ?", [a])
    edit(env, address, a, categories=["Personal"])
    assert run_sync(env.store, [OP], allow_mass_delete=True).mailbox(OP).status == "ok" and not on_team(env, a)
    add_contact(env, address, display_name="Own Copy", given_name="Own", surname="Copy", categories=[CAT],
                email_addresses=[EmailAddress(label="EmailAddress1", email=email)])
    trash(env, address, b)
    _restore(env, address, b)
    with env.store.write() as con:                      # the CRM takes the operator off b's team meanwhile
        con.execute("DELETE FROM contact_team WHERE contact_id = ? AND operator_id = ?", [b, OP])
    result = run_sync(env.store, [OP], allow_mass_delete=True)
    mine = result.plan.actions[result.plan.actions["contact_id"].isin([a, b])]
    assert sorted(zip(mine["action"], mine["contact_id"], mine["code"].fillna(""))) == [
        ("delete-exchange", b, ""), ("skip", a, "AMBIGUOUS_MATCH"), ("skip", a, "SKIPPED_NO_CATEGORY")]
    rows = mailbox_rows(env.sandbox, address)
    assert [r["crm_id"] for r in rows].count(a) == 1 and b not in {r["crm_id"] for r in rows}
    assert not on_team(env, a) and not on_team(env, b)
    mark = len(env.sandbox.requests)
    assert run_sync(env.store, [OP]).plan.is_empty and writes_since(env.sandbox, mark) == []
    with env.store.write() as con:                      # a back on the team: its de-categorised item is adopted
        con.execute("INSERT INTO contact_team VALUES (?, ?, ?)", [a, OP, now()])
    run_sync(env.store, [OP])
    rows = [r for r in mailbox_rows(env.sandbox, address) if r["crm_id"] == a]
    assert len(rows) == 1 and CAT in rows[0]["categories"]
    assert env.store.rows("SELECT item_id FROM links WHERE operator_id = ? AND contact_id = ?", [OP, a]) \
        == [(rows[0]["item_id"],)]
