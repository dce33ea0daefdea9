"""An Exchange edit in one mailbox reaches the other mailboxes linked to the same CRM contact through the request
queue (reason "propagate"), within seconds rather than at the next slot; a run with no CRM writes queues nothing."""
from __future__ import annotations

from datetime import datetime

from .conftest import started_for, wait_for
from .test_agent_push import OP, mailbox_account, ready

OP_B, MAILBOX_B = "OP-005", "oluwaseun.adeyemi5@example.com"
#: the waits below end as soon as their condition holds; this bound only ends a failing test (a loaded machine
#: took more than 10 s for the propagation)
WAIT = 60


def settled(ra) -> bool:
    """No job running and no request waiting (the start-up syncs and whatever they queued are done)."""
    store = ra.agent.store
    return not ra.agent.busy() and not store.scalar("SELECT count(*) FROM sync_requests WHERE done_at IS NULL")


def test_an_exchange_edit_reaches_the_other_linked_mailbox_by_request(verified_env, run_agent):
    ra = run_agent()
    store, sandbox = ra.agent.store, verified_env.sandbox
    assert wait_for(lambda: ready(ra), timeout=WAIT)
    assert wait_for(lambda: settled(ra) and settled(ra), timeout=WAIT)
    shared = store.rows("SELECT a.contact_id, a.item_id, b.item_id FROM links a JOIN links b USING (contact_id) "
                        "WHERE a.operator_id = ? AND b.operator_id = ? ORDER BY 1 LIMIT 1", [OP, OP_B])
    assert shared, "the seed shares contacts between OP-004 and OP-005"
    contact_id, item_a, item_b = shared[0]
    acc_a, acc_b = mailbox_account(ra), mailbox_account(ra, MAILBOX_B)
    assert acc_b.contacts.get(id=item_b).job_title != "Propagated Title"
    mark = len(sandbox.requests)
    first_request = store.scalar("SELECT coalesce(max(request_id), 0) FROM sync_requests")
    with ra.lock:
        first_event = len(ra.events)

    edited = acc_a.contacts.get(id=item_a)                # an edit made in Outlook, mailbox A
    edited.job_title = "Propagated Title"
    edited.save(update_fields=["job_title"])

    assert wait_for(lambda: acc_b.contacts.get(id=item_b).job_title == "Propagated Title", timeout=WAIT,
                    interval=0.2), \
        ra.events[-15:]
    assert store.scalar("SELECT job_title FROM contacts WHERE contact_id = ?", [contact_id]) == "Propagated Title"
    # B's write comes back as a notification for B; that run finds nothing to do (and writes no CRM contact)
    def since() -> list[dict]:
        with ra.lock:
            return ra.events[first_event:]
    assert wait_for(lambda: [e for e in since() if e["event"] == "sync-start" and e["operator"] == OP_B
                             and "notification" in e["why"]], timeout=WAIT)
    assert wait_for(lambda: settled(ra) and settled(ra), timeout=WAIT)

    # it came through the request queue: one propagate request for B, made by the agent, done
    events = since()
    assert store.rows("SELECT operator_id, reason, source, outcome FROM sync_requests WHERE request_id > ?",
                      [first_request]) == [(OP_B, "propagate", "agent", "ok")]
    assert [(e["operator"], e["to"]) for e in events if e["event"] == "propagate"] == [(OP, OP_B)]
    assert any(e["event"] == "sync-start" and e["operator"] == OP_B and started_for(e, "request:propagate")
               and e["kind"] == "incremental" for e in events)
    # ... not through a slot (the agent's clock never reached one), and B was not read in full
    assert store.scalar("SELECT count(*) FROM sync_runs WHERE trigger = 'slot'") == 0 and not ra.named("slot")
    of_b = [r for r in sandbox.requests[mark:] if (r.mailbox or "").lower() == MAILBOX_B]
    assert any(r.operation == "UpdateItem" for r in of_b)
    assert not [r for r in of_b if r.operation == "FindItem" and "Restriction" not in r.flags]
    assert all("SyncState" in r.flags for r in of_b if r.operation == "SyncFolderItems")
    # no ping-pong: B's run only wrote to Exchange, so nothing was queued back for A (the request list above
    # holds B's request alone)


# ---------------------------------------------------------------- the agent's decision, without Exchange

def _store_with_links(tmp_path):
    from workbench.store import Store, now
    store = Store(tmp_path / "propagate.duckdb")
    store.migrate()
    with store.write() as con:
        for op, enabled in (("OP-A", True), ("OP-B", True), ("OP-C", True), ("OP-D", False)):
            con.execute("INSERT INTO operators (operator_id, name, email, contact_sync, updated_at, source) "
                        "VALUES (?, ?, ?, ?, ?, 'test')", [op, op, f"{op.lower()}@example.com", enabled, now()])
        for op, contact in (("OP-A", "C-1"), ("OP-B", "C-1"), ("OP-D", "C-1"), ("OP-A", "C-2"), ("OP-C", "C-3")):
            con.execute("INSERT INTO links (operator_id, contact_id, item_id, crm_hash, exchange_hash, synced_at) "
                        "VALUES (?, ?, ?, 'h', 'h', ?)", [op, contact, f"{op}-{contact}", now()])
    return store


def _agent(store):
    from workbench.agent.runner import Agent, EventLog
    events: list[dict] = []
    return Agent(store, log=EventLog(stream=None, sink=events.append)), events


def _result(touched: set[str]):
    from workbench.sync.engine import RunResult
    return RunResult(run_id=1, status="ok", dry_run=False, plan=None, touched_crm=touched)


def test_a_run_with_no_crm_writes_queues_nothing(tmp_path):
    store = _store_with_links(tmp_path)
    agent, events = _agent(store)
    assert agent.queue_propagation("OP-A", _result(set())) == []
    assert agent.queue_propagation("OP-A", None) == []
    assert agent.queue_propagation("OP-A", _result({"C-2"})) == []        # linked to A alone: never A itself
    assert store.scalar("SELECT count(*) FROM sync_requests") == 0
    assert not [e for e in events if e["event"] == "propagate"]


def test_crm_writes_queue_the_other_enabled_linked_operators_once(tmp_path):
    store = _store_with_links(tmp_path)
    agent, events = _agent(store)
    # C-1 is linked to A, B and the disabled D; C-3 to C; C-9 to nobody
    assert agent.queue_propagation("OP-A", _result({"C-1", "C-2", "C-3", "C-9"})) == ["OP-B", "OP-C"]
    rows = store.rows("SELECT operator_id, reason, source, picked_at FROM sync_requests ORDER BY operator_id")
    assert rows == [("OP-B", "propagate", "agent", None), ("OP-C", "propagate", "agent", None)]
    stamps = store.rows("SELECT DISTINCT requested_at FROM sync_requests")
    assert len(stamps) == 1 and isinstance(stamps[0][0], datetime)     # one request, covering both
    [event] = [e for e in events if e["event"] == "propagate"]
    assert event["operator"] == "OP-A" and event["to"] == "OP-B,OP-C" and event["contacts"] == 4

