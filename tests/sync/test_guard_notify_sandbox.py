"""The mass-deletion guard tells someone: one failure e-mail naming the operator, the share and the command."""
from __future__ import annotations

from tests.sync.conftest import mailbox_of
from tests.sync.edits import trash
from workbench.sync.engine import run_sync

OP = "OP-004"


def sent_about(env, op: str) -> list[dict]:
    """The failure e-mails about ``op`` in the service account's Sent Items (the seed has failing mailboxes too)."""
    return [m for m in env.sandbox.mailbox(env.info.service_account.username).sent_items
            if f"for {op} (" in str(m.get("subject"))]


def test_guard_emails_the_failure_recipients_once(env):
    run_sync(env.store)
    address = mailbox_of(env.store, OP)
    ids = [r[0] for r in env.store.rows("SELECT contact_id FROM links WHERE operator_id = ? ORDER BY contact_id",
                                        [OP])]
    for cid in ids[: len(ids) // 2 + 1]:
        trash(env, address, cid)
    first = run_sync(env.store, [OP])
    assert first.mailbox(OP).status == "guarded" and first.mailbox(OP).notified
    mails = env.store.df("SELECT * FROM notifications WHERE operator_id = ? AND code = 'MASS_DELETE'", [OP])
    assert len(mails) == 1 and mails.iloc[0]["status"] == "sent"
    assert mails.iloc[0]["recipients"] == "sales-ops@example.com"
    body = mails.iloc[0]["body"]
    deletes = len(ids) // 2 + 1
    assert OP in mails.iloc[0]["subject"] and f"{deletes} of {len(ids)} links of {OP}" in body
    assert f"({100 * deletes / len(ids):.0f}%, more than mass_delete_percent=20%)" in body
    assert f"`workbench sync run --operator {OP} --allow-mass-delete`" in body
    assert len(sent_about(env, OP)) == 1 and "MASS_DELETE" in sent_about(env, OP)[0]["subject"]
    # the next run trips the guard again: no second e-mail, the journal says why
    second = run_sync(env.store, [OP])
    assert second.mailbox(OP).status == "guarded" and not second.mailbox(OP).notified
    assert env.store.scalar("SELECT count(*) FROM notifications WHERE code = 'MASS_DELETE'") == 1
    assert env.store.scalar("SELECT count(*) FROM sync_log WHERE run_id = ? AND action = 'notify' "
                            "AND outcome = 'skipped' AND code = 'MASS_DELETE'", [second.run_id]) == 1
    assert len(sent_about(env, OP)) == 1
