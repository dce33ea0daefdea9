"""The engine's behaviour rules, the same steps on each backend (in-memory fake, EWS sandbox, Graph sandbox), driven
through the CLI and checked in the store and in the mailbox as the server keeps it (#14).

Where the backends differ by design the test says so: Graph v1.0 has no move for contacts, so
``delete_to=recoverable-items`` is a ``permanentDelete`` there (Recoverable Items\\Purges, not a folder a person
sees); a per-item refusal is EWS_ITEM_REJECTED on EWS and GRAPH_ITEM_REJECTED on Graph.
"""
from __future__ import annotations

import json

import pytest

from tests.sync.backends import KINDS, OP, PLACES

CAT = "PegaSASync"


def test_initial_sync_creates_matches_by_email_and_skips_private_and_uncategorised(backend_env):
    env = backend_env
    before = env.mailboxes.rows(env.address())
    run = env.sync()
    assert run["status"] == "ok" and run["done"] > 0, run
    after = env.mailboxes.rows(env.address())
    seeded = [r for r in before if CAT in r["categories"] and not r["private"]]
    crm_emails = {e.lower() for e in env.store.df("SELECT email FROM contacts WHERE email IS NOT NULL")["email"]}
    for r in before:
        same = [a for a in after if (a["email"] or "").lower() == (r["email"] or "").lower()]
        assert len(same) == 1, f"{env.kind}: {r['email']} {len(same)} times"           # matched, never duplicated
        if r in seeded:
            assert same[0]["crm_id"], f"{env.kind}: categorised {r['email']} not synced"
        else:
            assert same[0]["crm_id"] is None and r["email"].lower() not in crm_emails
    log = env.store.df("SELECT code FROM sync_log WHERE run_id = ?", [run["run_id"]])
    assert {"SKIPPED_PRIVATE", "SKIPPED_NO_CATEGORY"} <= set(log["code"].dropna())
    env.assert_in_sync()
    env.assert_converged()


def test_a_crm_edit_updates_the_item(backend_env):
    env = backend_env
    env.sync()
    a, b = env.linked()[:2]
    env.crm_set(a, job_title="Head of Parity")
    env.crm_set(b, given_name="Renamed")
    run = env.sync()
    assert run["status"] == "ok" and run["planned"] == 2, run
    items = env.items()
    assert items[a]["job_title"] == "Head of Parity" and items[b]["given_name"] == "Renamed"
    env.assert_converged()


def test_an_edit_on_both_sides_follows_the_conflict_policy(backend_env):
    """One conflict per policy, each in its own run; an edit on one side only is never a conflict."""
    env = backend_env
    env.sync()
    address = env.address()
    expected = {"crm-wins": ("CRM title", "CRM title"), "exchange-wins": ("Outlook title", "Outlook title"),
                "manual": ("CRM title", "Outlook title")}
    for (policy, want), cid in zip(expected.items(), env.linked()[:3]):
        env.settings(conflict_policy=policy)
        env.crm_set(cid, job_title="CRM title")
        env.mailboxes.edit(address, cid, job_title="Outlook title")
        run = env.sync()
        assert (env.crm(cid, "job_title"), env.items()[cid]["job_title"]) == want, policy
        seen = {"crm-wins": "%conflict, winner crm%", "exchange-wins": "%conflict, winner exchange%",
                "manual": "%conflict_policy is manual%"}[policy]
        assert env.store.scalar("SELECT count(*) FROM sync_log WHERE run_id = ? AND contact_id = ? AND detail LIKE ?",
                                [run["run_id"], cid, seen]) == 1, (policy, run)
    manual, other = cid, env.linked()[3]
    env.mailboxes.edit(address, other, job_title="Outlook only")
    env.settings(conflict_policy="crm-wins")           # the manual one was left to a person; crm-wins settles it
    env.sync()
    assert (env.crm(other, "job_title"), env.items()[other]["job_title"]) == ("Outlook only", "Outlook only")
    assert env.items()[manual]["job_title"] == "CRM title"
    env.assert_converged()


def test_deletes_and_category_removal_each_way(backend_env):
    env = backend_env
    env.sync()
    a, b, c, d = env.linked()[:4]
    address = env.address()
    env.mailboxes.trash(address, a)                                 # Outlook delete
    env.mailboxes.edit(address, b, categories=["Personal"])         # de-categorised
    env.crm_set(c, deleted_at="2026-01-01 00:00:00")                # CRM delete
    with env.store.write() as con:                                  # team removal
        con.execute("DELETE FROM contact_team WHERE contact_id = ? AND operator_id = ?", [d, OP])
    run = env.sync("--allow-mass-delete")
    assert run["status"] == "ok", run
    for cid in (a, b):                       # Exchange side gone -> off the team, the CRM contact stays
        assert not env.on_team(cid) and env.crm(cid, "deleted_at") is None
    items = env.items()
    assert items[b]["categories"] == ["Personal"]                   # the de-categorised item is left alone
    assert c not in items and d not in items
    assert {a, c, d} <= set(env.items(place="deleted-items"))       # recoverable, in Deleted Items
    assert env.crm(d, "deleted_at") is None
    assert env.store.scalar("SELECT count(*) FROM links WHERE operator_id = ? AND contact_id IN (?, ?, ?, ?)",
                            [OP, a, b, c, d]) == 0
    env.assert_converged()


def test_a_crm_delete_puts_the_item_where_delete_to_says(backend_env):
    env = backend_env
    env.sync()
    expected = {"deleted-items": "deleted-items", "hard": None,
                "recoverable-items": None if env.kind == "graph" else "recoverable-items"}
    for (delete_to, place), cid in zip(expected.items(), env.linked()[:3]):
        env.settings(delete_to=delete_to)
        env.crm_set(cid, deleted_at="2026-01-01 00:00:00")
        run = env.sync()
        assert run["status"] == "ok" and run["planned"] == 1, run
        found = {p for p in PLACES if cid in env.items(place=p)}
        assert found == ({place} if place else set()), (delete_to, found)
        assert not env.store.scalar("SELECT count(*) FROM links WHERE contact_id = ? AND operator_id = ?", [cid, OP])
    env.assert_converged()


def test_an_item_carrying_the_crm_id_is_adopted_not_duplicated(backend_env):
    """The store lost its bookkeeping (a restored backup, a crash after the write): the next run finds each item by
    the CRM-id property, also when the e-mail no longer matches, and updates it in place."""
    env = backend_env
    env.sync()
    cid = env.linked()[0]
    count = len(env.mailboxes.rows(env.address()))
    with env.store.write() as con:
        con.execute("DELETE FROM links WHERE operator_id = ?", [OP])
        con.execute("DELETE FROM exchange_contacts WHERE operator_id = ?", [OP])
        con.execute("DELETE FROM mailbox_state WHERE operator_id = ?", [OP])
    env.crm_set(cid, email="moved.on@crm.test")
    run = env.sync()
    assert run["status"] == "ok", run
    assert len(env.mailboxes.rows(env.address())) == count
    assert env.items()[cid]["email"] == "moved.on@crm.test"
    assert not env.store.scalar("SELECT count(*) FROM sync_log WHERE run_id = ? AND action = 'create-exchange' "
                                "AND contact_id = ?", [run["run_id"], cid])
    env.assert_converged()


def test_the_mass_delete_guard_stops_tells_once_and_yields_to_allow(backend_env):
    env = backend_env
    env.sync()
    env.settings(mass_delete_percent="20")
    ids = [r[0] for r in env.store.rows("SELECT contact_id FROM links WHERE operator_id = ? ORDER BY 1", [OP])]
    gone = ids[: len(ids) // 2 + 1]
    for cid in gone:
        env.mailboxes.trash(env.address(), cid)
    first = env.sync()
    box = first["mailboxes"][0]
    assert (box["status"], box["code"]) == ("guarded", "MASS_DELETE"), first
    assert all(env.on_team(cid) for cid in ids)
    mails = env.store.df("SELECT * FROM notifications WHERE operator_id = ? AND code = 'MASS_DELETE'", [OP])
    assert len(mails) == 1 and mails.iloc[0]["status"] == "sent"
    assert f"{len(gone)} of {len(ids)} links of {OP}" in mails.iloc[0]["body"]
    assert f"`workbench sync run --operator {OP} --allow-mass-delete`" in mails.iloc[0]["body"]
    sent = [s for s in env.mailboxes.sent_subjects() if f"for {OP} (" in s]
    assert len(sent) == 1 and "MASS_DELETE" in sent[0]
    assert f"({100 * len(gone) / len(ids):.0f}%, more than mass_delete_percent=20%)" in mails.iloc[0]["body"]
    second = env.sync()                                                # again guarded: no second e-mail, and why
    assert second["mailboxes"][0]["status"] == "guarded"
    assert len([s for s in env.mailboxes.sent_subjects() if f"for {OP} (" in s]) == 1
    assert env.store.scalar("SELECT count(*) FROM sync_log WHERE run_id = ? AND action = 'notify' "
                            "AND outcome = 'skipped' AND code = 'MASS_DELETE'", [second["run_id"]]) == 1
    allowed = env.sync("--allow-mass-delete")
    assert allowed["mailboxes"][0]["status"] == "ok", allowed
    assert not any(env.on_team(cid) for cid in gone) and all(env.on_team(cid) for cid in ids if cid not in gone)
    env.assert_converged()


def test_a_refused_item_is_reported_and_the_rest_go_on(backend_env):
    env = backend_env
    victim = env.store.scalar("SELECT min(contact_id) FROM contact_team WHERE operator_id = ? AND contact_id IN "
                              "(SELECT contact_id FROM contacts WHERE deleted_at IS NULL AND NOT private)", [OP])
    env.mailboxes.reject(victim)
    run = env.sync()
    box = run["mailboxes"][0]
    assert (box["status"], box["failed"]) == ("partial", 1) and box["done"] > 0, run
    failed = env.store.df("SELECT contact_id, code FROM sync_log WHERE run_id = ? AND outcome = 'failed' "
                          "AND contact_id IS NOT NULL", [run["run_id"]])
    assert failed.values.tolist() == [[victim, env.item_rejected]]
    assert victim not in env.items()
    rc, out = env.cli("log", "--failed", "--json")
    assert rc == 0 and {e["contact_id"] for e in json.loads(out)} == {victim}
    env.mailboxes.reject(None)
    assert env.sync()["status"] == "ok"
    env.assert_converged()


def test_preview_and_dry_run_show_the_plan_and_write_nothing(backend_env):
    env = backend_env
    env.mailboxes.add(env.address(), [CAT], given_name="New", surname="Person")
    before = env.change_keys()
    rc, out = env.cli("sync", "preview", "--operator", OP, "--format", "json")
    assert rc == 0
    data = json.loads(out)
    actions = {(r["operator_id"], r["action"]): r["count"] for r in data["summary"]}
    assert actions[(OP, "create-exchange")] > 0 and actions[(OP, "create-crm")] >= 1
    assert any(d["field"] == "given_name" and d["after"] == "New" for d in data["detail"])
    rc, out = env.cli("sync", "preview", "--operator", OP, "--format", "csv")
    assert rc == 0 and out.startswith("operator_id,action,contact_id,item_id,reason,code,field,before,after")
    rc, out = env.cli("sync", "run", "--operator", OP, "--dry-run", "--no-progress")
    assert rc == 0 and "(dry run)" in out
    assert env.change_keys() == before and env.store.scalar("SELECT count(*) FROM links") == 0
    rc, out = env.cli("sync", "run", "--operator", OP, "--no-progress")
    assert rc == 0 and OP in out and " ok " in out
    new = env.store.df("SELECT contact_id FROM contacts WHERE given_name = 'New' AND surname = 'Person'")
    assert len(new) == 1 and env.on_team(new.iloc[0]["contact_id"])
    rc, out = env.cli("log", "--operator", OP, "--json")
    assert rc == 0 and {e["outcome"] for e in json.loads(out)} >= {"planned", "ok"}
    rc, out = env.cli("log", "--failed")
    assert rc == 0 and "no journal entries match" in out
    rc, out = env.cli("sync", "preview", "--operator", OP)
    assert rc == 0 and "nothing to do" in out
    env.assert_converged()


@pytest.mark.parametrize("direction", ["crm-to-exchange", "exchange-to-crm"])
def test_one_way_directions_write_one_side_only(backend_env, direction):
    env = backend_env
    env.settings(sync_direction=direction)
    contacts = env.store.scalar("SELECT count(*) FROM contacts")
    items = len(env.mailboxes.rows(env.address()))
    run = env.sync()
    assert run["status"] == "ok", run
    team = {r[0] for r in env.store.rows("SELECT contact_id FROM contact_team WHERE operator_id = ?", [OP])}
    log = env.store.df("SELECT code FROM sync_log WHERE run_id = ?", [run["run_id"]])
    assert "SKIPPED_DIRECTION" in set(log["code"].dropna())
    if direction == "crm-to-exchange":
        assert env.store.scalar("SELECT count(*) FROM contacts") == contacts          # nothing created in the CRM
        assert len(env.mailboxes.rows(env.address())) > items and set(env.items()) <= team
    else:
        assert len(env.mailboxes.rows(env.address())) == items                       # nothing pushed to Exchange
        assert env.store.scalar("SELECT count(*) FROM contacts") > contacts
        assert any(cid.startswith("EXC-") for cid in team)                            # Outlook-only -> CRM


def script(env) -> None:
    """Every rule once, in one sequence of slots."""
    first = env.sync()
    assert first["status"] == "ok", (env.kind, first)
    a, b, c, d, e = env.linked()[:5]
    address = env.address()
    env.crm_set(a, job_title="CRM edit")
    env.mailboxes.edit(address, b, job_title="Outlook edit")
    env.crm_set(c, job_title="CRM side")
    env.mailboxes.edit(address, c, job_title="Outlook side")              # conflict: crm-wins
    env.mailboxes.trash(address, d)
    env.crm_set(e, deleted_at="2026-01-01 00:00:00")
    env.mailboxes.add(address, [CAT], given_name="Only", surname="InOutlook", job_title="Scout")
    env.sync("--allow-mass-delete")
    env.settings(conflict_policy="exchange-wins")
    env.crm_set(b, city="Lyon")
    env.mailboxes.edit(address, b, job_title="Outlook again")
    env.sync()


def crm_state(env) -> list[tuple]:
    """The CRM contacts on the operator's team (Outlook-made ones by name, their ids are the backend's)."""
    rows = env.store.rows("SELECT CASE WHEN contact_id LIKE 'CRM-%' THEN contact_id END, given_name, surname, "
                          "job_title, city, deleted_at IS NULL FROM contacts JOIN contact_team USING (contact_id) "
                          "WHERE operator_id = ? ORDER BY ALL", [OP])
    return [tuple(r) for r in rows]


def test_the_same_script_gives_the_same_end_state_on_every_backend(make_backend_env):
    ends = {}
    for kind in KINDS:
        env = make_backend_env(kind)
        script(env)
        env.assert_converged()
        ends[kind] = (env.state(), crm_state(env))
    assert ends["fake"][0] and ends["fake"][1]
    for kind in ("ews", "graph"):
        for side, mine, fake in zip(("mailbox", "crm"), ends[kind], ends["fake"]):
            assert mine == fake, (f"{kind} and the fake disagree ({side}): only {kind}: "
                                  f"{sorted(set(mine) - set(fake), key=repr)}; only fake: "
                                  f"{sorted(set(fake) - set(mine), key=repr)}")
