"""`operators move ID --to graph` (and back): the stored item ids are translated with translateExchangeIds; the
next sync on the new backend creates nothing, loses no edit made in between, and the journal goes on."""
from __future__ import annotations

import json

from tests.graph.conftest import healthy_operators
from tests.graph.test_hybrid_organisation import cli
from tests.graph.test_graph_sync import agree, sync_run
from tests.sync.conftest import mailbox_rows

from workbench.graph.mapping import CRM_ID_PROPERTY


def edit_in_mailbox(env, email: str, crm_id: str, job_title: str) -> None:
    """What a user does in Outlook on the web, seen through Graph: change one contact's job title."""
    graph = env.http()
    try:
        flt = f"singleValueExtendedProperties/any(ep: ep/id eq '{CRM_ID_PROPERTY}' and ep/value eq '{crm_id}')"
        item, = graph.get(f"users/{email}/contacts", params={"$filter": flt}).json()["value"]
        assert graph.patch(f"users/{email}/contacts/{item['id']}", json={"jobTitle": job_title}).status_code == 200
    finally:
        graph.close()


def creates(env) -> tuple[int, int]:
    ews = sum(1 for r in env.sandbox.requests if r.operation == "CreateItem")
    graph = sum(1 for r in env.sandbox.graph.requests if r.method == "POST" and r.batch)
    return ews, graph


def test_move_to_graph_and_back_without_duplicates_or_lost_edits(hybrid_env) -> None:
    env = hybrid_env
    op, email = healthy_operators(env)[0]
    rc, out, err = sync_run("--operator", op)
    assert rc == 0 and out["mailboxes"][0]["status"] == "ok", (err, out)
    links_before = env.store.df("SELECT contact_id, item_id FROM links WHERE operator_id = ? ORDER BY 1", [op])
    cid = links_before["contact_id"].iloc[0]
    edit_in_mailbox(env, email, cid, "Edited before the move")

    dry = cli("operators", "move", op, "--to", "graph", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    report, = json.loads(dry.stdout)
    stored = env.store.scalar("SELECT count(DISTINCT item_id) FROM (SELECT item_id FROM links WHERE operator_id = ? "
                              "UNION ALL SELECT item_id FROM exchange_contacts WHERE operator_id = ?)", [op, op])
    assert report["translated"] == stored >= len(links_before) and report["missing"] == [] and not report["moved"]
    assert env.store.df("SELECT contact_id, item_id FROM links WHERE operator_id = ? ORDER BY 1", [op]).equals(
        links_before), "a dry run writes nothing"

    moved = cli("operators", "move", op, "--to", "graph")
    assert moved.returncode == 0 and "moved ews -> graph" in moved.stdout, moved.stderr
    links_after = env.store.df("SELECT contact_id, item_id FROM links WHERE operator_id = ? ORDER BY 1", [op])
    assert list(links_after["contact_id"]) == list(links_before["contact_id"])
    assert not set(links_after["item_id"]) & set(links_before["item_id"]), "every id translated"
    before = creates(env)
    rc, out, err = sync_run("--operator", op)
    assert rc == 0 and out["mailboxes"][0]["status"] == "ok", (err, out)
    assert creates(env) == before, "nothing created twice"
    assert env.store.scalar("SELECT job_title FROM contacts WHERE contact_id = ?", [cid]) == "Edited before the move"
    assert [r for r in env.sandbox.graph.requests if r.mailbox.lower() == email.lower()], "synced over Graph"
    agree(env, op, email)
    crm_ids = [r["crm_id"] for r in mailbox_rows(env.sandbox, email) if r["crm_id"]]
    assert len(crm_ids) == len(set(crm_ids))
    journal = [r[0] for r in env.store.rows("SELECT action FROM sync_log WHERE operator_id = ? ORDER BY log_id", [op])]
    assert "move-backend" in journal and journal.index("move-backend") < len(journal) - 1, "the journal goes on"

    back = cli("operators", "move", op, "--to", "ews")
    assert back.returncode == 0, back.stderr
    assert env.store.scalar("SELECT count(*) FROM operator_backends WHERE operator_id = ?", [op]) == 0
    before = creates(env)
    rc, out, err = sync_run("--operator", op)
    assert rc == 0 and out["planned"] == 0 and creates(env) == before, out
