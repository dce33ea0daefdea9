"""Applying a previewed plan (``run_sync(plan=...)``): exactly its actions, and never over a newer edit."""
from __future__ import annotations

from collections import Counter

from tests.sync.conftest import mailbox_of, mailbox_rows, writes_since
from tests.sync.edits import add_contact, edit
from workbench.store import now
from workbench.sync.engine import run_sync
from workbench.sync.preview import preview

OP = "OP-004"


def linked(env, op=OP, n=6):
    return [r[0] for r in env.store.rows("SELECT contact_id FROM links WHERE operator_id = ? AND contact_id LIKE 'CRM-%' "
                                         "ORDER BY contact_id LIMIT ?", [op, n])]


def crm_set(env, contact_id, **values):
    with env.store.write() as con:
        for k, v in values.items():
            con.execute(f"UPDATE contacts SET {k} = ?, updated_at = ? WHERE contact_id = ?", [v, now(), contact_id])


def crm_value(env, contact_id, field):
    return env.store.scalar(f"SELECT {field} FROM contacts WHERE contact_id = ?", [contact_id])


def ex_value(env, contact_id, field, op=OP):
    return {r["crm_id"]: r for r in mailbox_rows(env.sandbox, mailbox_of(env.store, op))}[contact_id][field]


def new_crm_contact(env, contact_id, op=OP):
    with env.store.write() as con:
        con.execute("INSERT INTO contacts (contact_id, given_name, surname, email, private, updated_at) "
                    "VALUES (?, 'New', 'Contact', ?, false, ?)", [contact_id, f"{contact_id.lower()}@crm.test", now()])
        con.execute("INSERT INTO contact_team VALUES (?, ?, ?)", [contact_id, op, now()])


def journal(env, run_id, op=OP):
    return env.store.df("SELECT action, outcome, code, contact_id, item_id, detail FROM sync_log "
                        "WHERE run_id = ? AND operator_id = ? ORDER BY log_id", [run_id, op])


def items_by_operation(records) -> Counter:
    out: Counter = Counter()
    for r in records:
        out[r.operation] += r.items
    return out


def test_applying_a_preview_executes_exactly_its_actions(env):
    run_sync(env.store, [OP])
    a, b, c = linked(env)[:3]
    address = mailbox_of(env.store, OP)
    crm_set(env, a, job_title="CRM edit")                            # -> update-exchange
    edit(env, address, b, job_title="Outlook edit")                   # -> update-crm
    crm_set(env, c, deleted_at=now())                                 # -> delete-exchange
    new_crm_contact(env, "CRM-NEW-1")                                 # -> create-exchange
    add_contact(env, address, given_name="Outlook", surname="Only", display_name="Outlook Only",
                categories=["PegaSASync"])                            # -> create-crm (+ stamp)
    pv = preview(env.store, [OP])
    counts = pv.plan.counts()
    for kind in ("update-exchange", "update-crm", "delete-exchange", "create-exchange", "create-crm"):
        assert counts.get(kind) == 1, counts
    writes = pv.plan.writes
    expected = Counter({"CreateItem": int((writes["action"] == "create-exchange").sum()),
                        "DeleteItem": int((writes["action"] == "delete-exchange").sum()),
                        "UpdateItem": int((writes["action"] == "update-exchange").sum()
                                          + ((writes["action"] != "update-exchange") & writes["stamp"]).sum())})

    mark = len(env.sandbox.requests)
    result = run_sync(env.store, plan=pv, trigger="dashboard")

    assert result.plan is pv.plan
    assert [m.operator_id for m in result.mailboxes] == [OP]          # only the mailboxes the plan writes to
    m = result.mailbox(OP)
    assert (m.status, m.planned, m.done, m.failed, m.stale, m.left) == ("ok", len(writes), len(writes), 0, 0, 0)
    # the sandbox saw exactly the plan's writes, nothing more (no propagation pass, no unpreviewed write)
    assert items_by_operation(writes_since(env.sandbox, mark)) == +expected
    log = journal(env, result.run_id)
    done = log[log["outcome"] == "ok"]
    done = done[done["action"].isin(writes["action"].unique())]
    assert sorted(zip(done["action"], done["contact_id"])) == sorted(zip(writes["action"], writes["contact_id"]))
    assert ex_value(env, a, "job_title") == "CRM edit"
    assert crm_value(env, b, "job_title") == "Outlook edit"
    assert ex_value(env, "CRM-NEW-1", "given_name") == "New"
    # applied means converged for this mailbox: a new plan has nothing left to write
    assert preview(env.store, [OP], snapshot=True).is_empty


def test_an_exchange_edit_after_the_preview_is_not_overwritten(env):
    run_sync(env.store, [OP])
    a, b = linked(env)[:2]
    address = mailbox_of(env.store, OP)
    crm_set(env, a, job_title="CRM title a")
    crm_set(env, b, job_title="CRM title b")
    pv = preview(env.store, [OP])
    assert set(pv.plan.writes["contact_id"]) == {a, b} and set(pv.plan.writes["action"]) == {"update-exchange"}
    edit(env, address, a, job_title="Outlook title a")               # made while the preview is on screen

    mark = len(env.sandbox.requests)
    result = run_sync(env.store, plan=pv)

    assert ex_value(env, a, "job_title") == "Outlook title a"         # not overwritten
    assert crm_value(env, a, "job_title") == "CRM title a"            # nor taken over without a decision
    assert ex_value(env, b, "job_title") == "CRM title b"             # the rest of the plan went on
    m = result.mailbox(OP)
    assert (m.status, m.code, m.done, m.failed, m.stale) == ("partial", "PLAN_STALE", 1, 0, 1)
    log = journal(env, result.run_id)
    [skipped] = log[(log["contact_id"] == a) & (log["outcome"] == "skipped")].to_dict("records")
    assert skipped["code"] == "PLAN_STALE" and skipped["action"] == "update-exchange"
    assert "changed in Exchange since the preview" in skipped["detail"]
    assert items_by_operation(writes_since(env.sandbox, mark)) == Counter({"UpdateItem": 1})
    # a new preview shows the conflict, and which edit the CRM-wins rule would overwrite
    again = preview(env.store, [OP])
    assert set(again.overwrites["contact_id"]) == {a}


def test_a_crm_edit_after_the_preview_is_not_overwritten(env):
    run_sync(env.store, [OP])
    b = linked(env)[1]
    address = mailbox_of(env.store, OP)
    edit(env, address, b, job_title="Outlook title")
    pv = preview(env.store, [OP])
    assert pv.plan.writes[["action", "contact_id"]].values.tolist() == [["update-crm", b]]
    crm_set(env, b, job_title="CRM title, later")

    result = run_sync(env.store, plan=pv)

    assert crm_value(env, b, "job_title") == "CRM title, later"
    assert ex_value(env, b, "job_title") == "Outlook title"
    log = journal(env, result.run_id)
    [skipped] = log[(log["contact_id"] == b) & (log["outcome"] == "skipped")].to_dict("records")
    assert skipped["code"] == "PLAN_STALE" and "changed in the CRM since the preview" in skipped["detail"]
    assert result.mailbox(OP).stale == 1 and result.status == "partial"


def test_writes_that_appear_after_the_preview_wait_for_the_next_run(env):
    run_sync(env.store, [OP])
    a = linked(env)[0]
    crm_set(env, a, job_title="Previewed")
    pv = preview(env.store, [OP])
    new_crm_contact(env, "CRM-NEW-2")                                # not in the preview
    mark = len(env.sandbox.requests)
    result = run_sync(env.store, plan=pv)
    assert result.mailbox(OP).status == "ok" and result.done == 1
    assert items_by_operation(writes_since(env.sandbox, mark)) == Counter({"UpdateItem": 1})
    log = journal(env, result.run_id)
    note = log[(log["action"] == "mailbox") & (log["code"] == "PLAN_STALE")]["detail"].tolist()
    assert note == ["1 write(s) planned now were not in the preview; left for the next run"]
    assert "CRM-NEW-2" not in {r["crm_id"] for r in mailbox_rows(env.sandbox, mailbox_of(env.store, OP))}


def test_an_operator_switched_off_after_the_preview_gets_nothing(env):
    from workbench.operators.switches import set_contact_sync
    run_sync(env.store, [OP])
    a = linked(env)[0]
    crm_set(env, a, job_title="Previewed")
    pv = preview(env.store, [OP])
    set_contact_sync(env.store, [OP], False, source="test")
    mark = len(env.sandbox.requests)
    result = run_sync(env.store, plan=pv)
    m = result.mailbox(OP)
    assert (m.status, m.code, m.done, m.stale) == ("skipped", "PLAN_STALE", 0, len(pv.plan.writes))
    assert writes_since(env.sandbox, mark) == []
    assert ex_value(env, a, "job_title") != "Previewed"


def test_stale_change_key_is_the_last_guard_when_planning_from_the_stored_snapshot(env):
    """snapshot=False re-plans from the stored snapshot (the agent's); an Exchange edit it has not seen yet
    is still caught per item by UpdateItem's change key: EWS_CONFLICT, nothing overwritten."""
    run_sync(env.store, [OP])
    a = linked(env)[0]
    address = mailbox_of(env.store, OP)
    crm_set(env, a, job_title="CRM title")
    pv = preview(env.store, [OP])
    edit(env, address, a, job_title="Outlook title")
    result = run_sync(env.store, plan=pv, snapshot=False)
    assert ex_value(env, a, "job_title") == "Outlook title"
    log = journal(env, result.run_id)
    [failed] = log[(log["contact_id"] == a) & (log["outcome"] == "failed")].to_dict("records")
    assert failed["code"] == "EWS_CONFLICT" and "changed in Exchange since the plan" in failed["detail"]


def test_a_crm_edit_during_a_run_is_not_overwritten_by_its_update_crm(env):
    """Also without a preview: the CRM side is re-checked right before an update-crm batch is committed."""
    run_sync(env.store, [OP])
    a, b = linked(env)[:2]
    address = mailbox_of(env.store, OP)
    crm_set(env, a, job_title="CRM edit")                             # update-exchange: runs first
    edit(env, address, b, job_title="Outlook title")                  # update-crm: runs after
    fired = []

    def progress(event):
        if event.phase == "execute" and not fired:                    # after the update-exchange batch
            fired.append(event)
            crm_set(env, b, job_title="CRM title, during the run")

    result = run_sync(env.store, [OP], progress=progress, propagate=False)
    assert fired
    assert crm_value(env, b, "job_title") == "CRM title, during the run"
    m = result.mailbox(OP)
    assert (m.done, m.stale, m.status) == (1, 1, "partial")
