"""One agent for a hybrid organisation (issue 14): the organisation on EWS, an operator moved to Graph while the
agent runs gets its subscription from Graph; disabling it ends that subscription at Graph (DELETE), as Graph's
GET /subscriptions shows; a DELETE that fails is logged, the row is still cleared and the agent carries on; moving
the operator back to EWS DELETEs its Graph subscription too."""
from __future__ import annotations

import io

import pytest

from tests.agent.conftest import T0, RunningAgent, wait_for
from tests.graph.conftest import healthy_operators
from tests.graph.test_graph_webhooks import subscription_of


def graph_subscriptions(env) -> dict[str, str]:
    """Subscription id -> resource, the way Graph's GET /subscriptions lists them."""
    client = env.http()
    try:
        r = client.get("subscriptions")
    finally:
        client.close()
    assert r.status_code == 200, r.text
    return {s["id"]: s["resource"] for s in r.json()["value"]}


@pytest.fixture
def hybrid_agent(hybrid_env):
    from workbench.agent.scheduler import ManualClock
    from workbench.operators.verify import verify_operators
    env = hybrid_env
    (ews_op, _), (graph_op, graph_mail) = healthy_operators(env)[:2]
    assert [c.ok for c in verify_operators(env.store, [ews_op, graph_op])] == [True, True]
    with env.store.write() as con:
        con.execute("DELETE FROM sync_requests")
    ra = RunningAgent(env.store, ManualClock(T0))
    ra.agent.log.stream = io.StringIO()
    yield env, ra.start(), ews_op, graph_op, graph_mail
    ra.stop()


def next_watchdog_pass(ra: RunningAgent) -> None:
    ra.agent.clock.advance(seconds=ra.agent.options.watchdog_seconds + 1)


def test_moved_operator_subscribes_at_graph_and_disabling_deletes_it(hybrid_agent) -> None:
    from workbench.operators.move import move_operators
    from workbench.operators.switches import set_contact_sync
    env, ra, ews_op, graph_op, graph_mail = hybrid_agent
    first = wait_for(lambda: subscription_of(env.store, ews_op) and subscription_of(env.store, graph_op), timeout=30)
    assert first and not graph_subscriptions(env), "an all-EWS organisation subscribes over EWS only"
    assert wait_for(lambda: not ra.agent.busy() and ra.named("sync-done"), timeout=60)

    [moved] = move_operators(env.store, [graph_op], "graph")
    assert moved.moved and moved.translated > 0
    next_watchdog_pass(ra)
    sid = wait_for(lambda: subscription_of(env.store, graph_op), timeout=30)
    assert sid and graph_subscriptions(env).get(sid, "").lower() == f"users/{graph_mail.lower()}/contacts", (
        "the moved operator's new subscription is Graph's")

    set_contact_sync(env.store, [graph_op], False)
    next_watchdog_pass(ra)
    assert wait_for(lambda: sid not in graph_subscriptions(env), timeout=30), "Graph still holds the subscription"
    assert subscription_of(env.store, graph_op) is None
    assert [e["operator"] for e in ra.named("unsubscribed")] == [graph_op]
    assert any(r.method == "DELETE" and sid in r.path for r in env.sandbox.graph.requests)
    assert subscription_of(env.store, ews_op), "the EWS operator keeps its subscription"

    # again, with Graph failing: the DELETE is logged as failed, the row cleared, the watchdog goes on
    set_contact_sync(env.store, [graph_op], True)
    next_watchdog_pass(ra)
    again = wait_for(lambda: subscription_of(env.store, graph_op), timeout=30)
    assert again and again in graph_subscriptions(env)
    env.sandbox.graph.faults.set(http_error_status=500, http_error_share=1.0)
    try:
        set_contact_sync(env.store, [graph_op], False)
        next_watchdog_pass(ra)
        failed = wait_for(lambda: ra.named("unsubscribe-failed"), timeout=30)
    finally:
        env.sandbox.graph.faults.clear()
    assert failed and failed[0]["operator"] == graph_op and failed[0]["code"].startswith("GRAPH_")
    assert subscription_of(env.store, graph_op) is None
    assert again in graph_subscriptions(env), "left to lapse at its expiry"
    set_contact_sync(env.store, [graph_op], True)
    next_watchdog_pass(ra)
    assert wait_for(lambda: (s := subscription_of(env.store, graph_op)) and s != again, timeout=30), (
        "the watchdog still works after a failed DELETE")

    # moved back to EWS: the move DELETEs the Graph subscription it forgets (else Graph notifies until expiry)
    third = subscription_of(env.store, graph_op)
    assert third in graph_subscriptions(env)
    [back] = move_operators(env.store, [graph_op], "ews")
    assert back.moved and back.unsubscribed == "its Graph subscription deleted", back.describe(dry_run=False)
    assert third not in graph_subscriptions(env)
    assert "its Graph subscription deleted" in back.describe(dry_run=False)
