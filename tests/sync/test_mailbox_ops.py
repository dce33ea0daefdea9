"""mapping + mailbox_ops against the sandbox: snapshot, create, find by CRM id, update, move, mail."""
from __future__ import annotations

from workbench.exchange import mailbox_ops as ops


def _mailbox(env):
    return next(m for m in env.info.mailboxes if not m.startswith("svc"))


def test_roundtrip_of_every_bulk_operation(exchange_env):
    env = exchange_env
    address = env.sandbox.store.mailboxes and sorted(
        a for a, mb in env.sandbox.store.mailboxes.items() if not mb.impersonation_denied and not a.startswith("svc"))[0]
    with env.connect() as conn:
        acc = ops.open_mailbox(conn, address)
        before = ops.read_snapshot(acc, 7)
        assert before and all(r["item_id"] and r["change_key"] for r in before)
        fields = {"given_name": "Zed", "surname": "Test", "email": "zed@t.test", "business_phone": "+1 1",
                  "mobile_phone": "+1 2", "home_phone": "+1 3", "company": "Co", "job_title": "Boss",
                  "street": "1 St", "city": "Town", "state": "ST", "postal_code": "123", "country": "Land"}
        refs = ops.create_contacts(acc, [{"fields": fields, "crm_id": "CRM-T1", "categories": ["PegaSASync"]},
                                         {"fields": {**fields, "email": "b@t.test"}, "crm_id": "CRM-T2",
                                          "categories": ["PegaSASync"]}], 512)
        assert all(isinstance(r, ops.ItemRef) for r in refs)
        found = ops.find_by_crm_ids(acc, ["CRM-T1", "CRM-T2", "nope"], 512)
        assert set(found) == {"CRM-T1", "CRM-T2"}
        row = found["CRM-T1"][0]
        assert {k: row[k] for k in fields} == fields and row["categories"] == ["PegaSASync"]
        assert row["change_key"] == refs[0].change_key
        upd = ops.update_contacts(acc, [{"item_id": refs[0].item_id, "change_key": refs[0].change_key,
                                         "fields": {**fields, "city": "Other", "home_phone": None},
                                         "crm_id": "CRM-T1", "categories": ["PegaSASync"]},
                                        {"item_id": refs[1].item_id, "change_key": "stale",
                                         "fields": fields, "crm_id": "CRM-T2", "categories": ["PegaSASync"]}], 512)
        assert isinstance(upd[0], ops.ItemRef) and upd[1].code == "EWS_CONFLICT"
        rows = {r["item_id"]: r for r in ops.read_snapshot(acc, 512)}
        assert rows[refs[0].item_id]["city"] == "Other" and rows[refs[0].item_id]["home_phone"] is None
        assert rows[refs[0].item_id]["change_key"] == upd[0].change_key
        res = ops.delete_contacts(acc, [(refs[1].item_id, None)], 512)
        assert res == [True]
        got = ops.fetch_rows(acc, [refs[0].item_id, refs[1].item_id])
        assert got[refs[0].item_id]["in_contacts"] and got[refs[1].item_id] is None   # a move changes the id
        assert len(env.sandbox.mailbox(address).deleted_items) == 1
        svc = ops.open_mailbox(conn, env.info.service_account.username)
        ops.send_mail(svc, ["sales-ops@example.com"], "subject x", "body y")
    view = env.sandbox.mailbox(env.info.service_account.username)
    assert len(view.sent_items) == 1 and "subject x" in str(view.sent_items[0])
