"""The running agent against the sandbox: subscriptions, real push notifications, incremental sync."""
from __future__ import annotations

from datetime import timedelta

from exchangelib import Contact
from exchangelib.indexed_properties import EmailAddress

from tests.conftest import free_port

from .conftest import wait_for

OP, MAILBOX = "OP-004", "mei.demir4@example.com"


def subs_of(ra) -> dict:
    return {r[0]: r[1:] for r in ra.agent.store.rows(
        "SELECT operator_id, subscription_id, last_notification_at, subscription_frequency FROM mailbox_state "
        "WHERE subscription_id IS NOT NULL")}


def test_agent_subscribes_verified_operators_and_hears_status_pings(verified_env, run_agent):
    ra = run_agent()
    sandbox = verified_env.sandbox
    subs = wait_for(lambda: (s := subs_of(ra)) and len(s) == 2 and all(v[1] for v in s.values()) and s)
    assert set(subs) == {"OP-004", "OP-005"}            # enabled and verified only
    assert all(v[2] == 30 for v in subs.values())       # StatusFrequency = notification_frequency_minutes
    live = {s["id"]: s for s in sandbox.subscriptions.snapshot()}
    assert {v[0] for v in subs.values()} <= set(live)
    assert all(live[v[0]]["status_frequency"] == 30 and live[v[0]]["url"].endswith("/ews/notify")
               for v in subs.values())
    assert ra.named("subscribed") and ra.named("notification")


def mailbox_account(ra, mailbox: str = MAILBOX):
    """The test's own exchangelib account, configured from the agent's store."""
    from workbench.exchange.client import connect
    from workbench.store.settings_table import load
    return connect(load(ra.agent.store)).account(mailbox)


def crm_row(ra, item_id: str):
    rows = ra.agent.store.rows(
        "SELECT c.contact_id, c.given_name, c.surname, c.job_title, c.email, "
        "       EXISTS (SELECT 1 FROM contact_team t WHERE t.contact_id = c.contact_id AND t.operator_id = ?) "
        "FROM links l JOIN contacts c USING (contact_id) WHERE l.operator_id = ? AND l.item_id = ?",
        [OP, OP, item_id])
    return rows[0] if rows else None


def ready(ra) -> bool:
    """Subscribed and caught up (the start-up sync of each subscribed mailbox stored a sync state)."""
    rows = ra.agent.store.rows("SELECT operator_id FROM mailbox_state WHERE subscription_id IS NOT NULL "
                               "AND sync_state IS NOT NULL")
    done = {e["operator"] for e in ra.named("sync-done")}
    return len(rows) == 2 and done >= {r[0] for r in rows} and not ra.agent.busy()


def test_created_updated_deleted_contact_reaches_the_crm_by_push(verified_env, run_agent):
    ra = run_agent()
    assert wait_for(lambda: ready(ra), timeout=30)
    acc = mailbox_account(ra)
    contact = Contact(folder=acc.contacts, display_name="Push Person", given_name="Push", surname="Person",
                      job_title="Buyer", email_addresses=[EmailAddress(label="EmailAddress1",
                                                                       email="push.person@client.example")],
                      categories=["PegaSASync"])
    contact.save()
    row = wait_for(lambda: crm_row(ra, contact.id), timeout=5)
    assert row is not None, ra.events[-10:]
    contact_id = row[0]
    assert row[1:] == ("Push", "Person", "Buyer", "push.person@client.example", True)

    contact.job_title = "Head of Buying"
    contact.save(update_fields=["job_title"])
    assert wait_for(lambda: (r := crm_row(ra, contact.id)) and r[3] == "Head of Buying", timeout=5)

    item_id = contact.id
    contact.delete()                                   # (exchangelib clears contact.id)
    gone = wait_for(lambda: crm_row(ra, item_id) is None, timeout=5)
    assert gone
    # the CRM contact stays; the operator is off its team
    assert ra.agent.store.scalar("SELECT count(*) FROM contacts WHERE contact_id = ?", [contact_id]) == 1
    assert ra.agent.store.scalar("SELECT count(*) FROM contact_team WHERE contact_id = ? AND operator_id = ?",
                                 [contact_id, OP]) == 0
    assert ra.agent.store.scalar("SELECT count(*) FROM sync_runs WHERE trigger = 'notification'") >= 3


def test_unknown_subscription_is_answered_unsubscribe_and_the_sandbox_stops(verified_env, run_agent):
    ra = run_agent()
    assert wait_for(lambda: ready(ra), timeout=30)
    stranger = mailbox_account(ra, "oluwaseun.adeyemi5@example.com")
    sid, _ = stranger.contacts.subscribe_to_push(callback_url=ra.agent.settings.notification_url,
                                                 status_frequency=1)
    live = lambda: {s["id"] for s in verified_env.sandbox.subscriptions.snapshot()}  # noqa: E731
    assert wait_for(lambda: sid not in live(), timeout=5)
    assert any(e.get("answer") == "Unsubscribe" and e.get("why") == "unknown" for e in ra.named("notification"))
    assert sid not in ra.agent.subscriptions()
    assert set(ra.agent.subscriptions().values()) == {"OP-004", "OP-005"}     # ours untouched


def test_silenced_subscription_is_recreated(verified_env, run_agent):
    from .conftest import T0
    ra = run_agent()
    assert wait_for(lambda: ready(ra), timeout=30)
    before = {op: sid for sid, op in ra.agent.subscriptions().items()}
    verified_env.sandbox.subscriptions.end(before[OP])        # Exchange stops sending (dropped on its side)
    ra.agent.clock.set(T0 + timedelta(minutes=2 * 30 + 1))    # more than twice the frequency, nothing heard
    now_subs = wait_for(lambda: (s := {op: sid for sid, op in ra.agent.subscriptions().items()})
                        and s.get(OP) not in (None, before[OP]) and s, timeout=10)
    assert now_subs, ra.events[-10:]
    assert now_subs[OP] in {s["id"] for s in verified_env.sandbox.subscriptions.snapshot()}
    row = wait_for(lambda: ra.agent.store.rows("SELECT subscription_id, subscribed_at FROM mailbox_state "
                                               "WHERE operator_id = ? AND subscription_id = ?", [OP, now_subs[OP]]))
    assert row == [(now_subs[OP], T0 + timedelta(minutes=61))]
    assert any(e["operator"] == OP and e["why"] == "silent" for e in ra.named("resubscribed"))
    # the new subscription works: a change arrives by push again
    acc = mailbox_account(ra)
    c = Contact(folder=acc.contacts, display_name="After Silence", given_name="After", surname="Silence",
                categories=["PegaSASync"])
    c.save()
    # (the clock jump also started a slot of every mailbox: the follow-up job may wait for a pool worker)
    assert wait_for(lambda: crm_row(ra, c.id), timeout=15)


def test_hostile_bodies_to_the_running_agent_are_refused_and_it_keeps_syncing(verified_env, run_agent):
    from .bodies import billion_laughs, external_entity, send_notification
    from .test_listener import post
    ra = run_agent()
    assert wait_for(lambda: ready(ra), timeout=30)
    port = ra.agent.listener.port
    our_sid = next(sid for sid, op in ra.agent.subscriptions().items() if op == OP)
    for body in (billion_laughs(our_sid), external_entity(), b"<not-xml", b"\x00" * 1000,
                 send_notification(our_sid).replace(b"</s:Envelope>", b"")):
        status, _ = post(port, body)
        assert 400 <= status < 500
    assert ra.named("notification-refused")
    acc = mailbox_account(ra)
    c = Contact(folder=acc.contacts, display_name="Still Here", given_name="Still", surname="Here",
                categories=["PegaSASync"])
    c.save()
    assert wait_for(lambda: crm_row(ra, c.id), timeout=5)


def test_disabling_an_operator_ends_the_subscription(verified_env, run_agent):
    from workbench.operators.switches import set_contact_sync
    ra = run_agent()
    assert wait_for(lambda: ready(ra), timeout=30)
    old = next(sid for sid, op in ra.agent.subscriptions().items() if op == "OP-005")
    set_contact_sync(ra.agent.store, ["OP-005"], False, source="test")
    # a tick that read the operators before the switch must not be the one that sees the watchdog due
    start = ra.agent.ticks
    assert wait_for(lambda: ra.agent.ticks >= start + 2, timeout=10)
    ra.agent.clock.advance(minutes=1)                          # the next watchdog pass
    assert wait_for(lambda: ra.agent.store.scalar(
        "SELECT subscription_id IS NULL FROM mailbox_state WHERE operator_id = 'OP-005'"), timeout=5)
    acc = mailbox_account(ra, "oluwaseun.adeyemi5@example.com")
    Contact(folder=acc.contacts, display_name="Nobody Listens", categories=["PegaSASync"]).save()
    assert wait_for(lambda: old not in {s["id"] for s in verified_env.sandbox.subscriptions.snapshot()}, timeout=5)
    assert any(e.get("why") == "retired" and e.get("answer") == "Unsubscribe" for e in ra.named("notification"))


def test_a_transient_failure_is_retried_on_the_agent_clock(verified_env, run_agent):
    from workbench.store.sync_requests import request_sync
    from workbench.store import now
    ra = run_agent()
    assert wait_for(lambda: ready(ra), timeout=30)
    store, sandbox = ra.agent.store, verified_env.sandbox
    links = store.rows("SELECT contact_id, item_id FROM links WHERE operator_id = ? ORDER BY contact_id LIMIT 1", [OP])
    assert links, ra.events
    contact_id, item_id = links[0]
    acc = mailbox_account(ra)
    acc.contacts.get(id=item_id)                          # the test's own account is ready before the fault
    sandbox.faults.set(http_error_share=1.0, http_error_status=503)
    try:
        with store.write() as con:
            con.execute("UPDATE contacts SET job_title = 'Retried', updated_at = ? WHERE contact_id = ?",
                        [now(), contact_id])
        request_sync(store, [OP], "contact edited", source="test")
        failed = wait_for(lambda: [e for e in ra.named("sync-failed") if e["operator"] == OP], timeout=10)
        assert failed and failed[0]["code"] == "EWS_SERVER_ERROR" and failed[0]["retry_at"]
        assert store.scalar("SELECT failure_streak FROM mailbox_state WHERE operator_id = ?", [OP]) >= 1
    finally:
        sandbox.faults.set(http_error_share=0.0)
    ra.agent.clock.advance(seconds=31)                    # the retry is due on the agent's clock
    assert wait_for(lambda: acc.contacts.get(id=item_id).job_title == "Retried", timeout=10)
    assert wait_for(lambda: store.scalar("SELECT failure_streak FROM mailbox_state WHERE operator_id = ?",
                                         [OP]) == 0, timeout=5)


def test_a_new_notification_url_moves_the_listener_and_push_keeps_working(verified_env, run_agent):
    from .conftest import T0

    from workbench.store.settings_table import update
    ra = run_agent()
    assert wait_for(lambda: ready(ra), timeout=30)
    new_port = free_port()
    url = f"http://127.0.0.1:{new_port}/ews/notify"
    update(verified_env.store, {"notification_url": url}, source="test")
    assert wait_for(lambda: ra.agent.listener is not None and ra.agent.listener.port == new_port, timeout=15), \
        ra.events[-10:]
    ra.agent.clock.set(T0 + timedelta(seconds=31))              # the next watchdog pass re-subscribes there
    assert wait_for(lambda: any(s["url"] == url for s in verified_env.sandbox.subscriptions.snapshot()), timeout=15)
    acc = mailbox_account(ra)
    c = Contact(folder=acc.contacts, display_name="New Listener", given_name="New", surname="Listener",
                categories=["PegaSASync"])
    c.save()
    assert wait_for(lambda: crm_row(ra, c.id), timeout=15), ra.events[-10:]
