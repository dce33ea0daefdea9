"""Rules the sync state machine found (issue 18), end to end against the EWS sandbox: a de-categorised item
stays its contact's one item, and a moved (restored) item keeps its link. The rules on every backend are in
test_behaviour_backends.py."""
from __future__ import annotations

from tests.sync.conftest import CAT, mailbox_of, mailbox_rows, writes_since
from tests.sync.edits import add_contact, edit, trash
from workbench.store import now
from workbench.sync.engine import run_sync

OP = "OP-004"


def linked(env, op=OP, n=6):
    return [r[0] for r in env.store.rows("SELECT contact_id FROM links WHERE operator_id = ? AND contact_id LIKE 'CRM-%' "
                                         "ORDER BY contact_id LIMIT ?", [op, n])]


def on_team(env, contact_id, op=OP):
    return bool(env.store.scalar("SELECT count(*) FROM contact_team WHERE contact_id = ? AND operator_id = ?",
                                 [contact_id, op]))


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
    run_sync(env.store, [OP])
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
