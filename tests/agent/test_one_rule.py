"""One definition per rule, shared by the agent, the planner, the dashboard and ``check`` (issue 18):
the mailbox address an operator syncs (the alias case) and subscription silence."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings, strategies as st

T = datetime(2026, 3, 2, 10, 0, 0)
FREQ = 30


def test_after_a_failed_check_of_an_alias_operator_planner_and_agent_sync_the_same_mailbox(exchange_env):
    from workbench.agent.state import served_mailboxes
    from workbench.operators.verify import verify_operators
    from workbench.sync.engine import run_sync
    from workbench.sync.plan import operator_mailboxes
    store, sandbox = exchange_env.store, exchange_env.sandbox
    [alias] = verify_operators(store, ["OP-001"])                     # the seed's OP-001 e-mail is an alias
    assert alias.status == "email-mismatch" and alias.mailbox_address != alias.email
    sandbox.faults.set(http_error_share=1.0, http_error_status=503)
    try:
        [failed] = verify_operators(store, ["OP-001"])                # Exchange does not answer: no address found
    finally:
        sandbox.faults.set(http_error_share=0.0)
    assert failed.status == "unreachable" and failed.mailbox_address is None
    with store.read() as con:
        planned = dict(operator_mailboxes(con, ["OP-001"])[["operator_id", "mailbox"]].itertuples(index=False))
    assert served_mailboxes(store)["OP-001"].mailbox == planned["OP-001"] == alias.mailbox_address
    run_sync(store, ["OP-001"], trigger="test")                        # the run impersonates that mailbox
    assert store.scalar("SELECT mailbox_address FROM mailbox_state WHERE operator_id = 'OP-001'") == \
        alias.mailbox_address


stamps = st.one_of(st.none(), st.integers(min_value=-200, max_value=200).map(lambda m: T + timedelta(minutes=m)))


@pytest.fixture(scope="module")
def silence_store(tmp_path_factory):
    from workbench.store import Store
    store = Store(tmp_path_factory.mktemp("silence") / "s.duckdb")
    store.migrate()
    return store


@settings(max_examples=60, deadline=None)
@given(subscribed=stamps, heard=stamps, now_minutes=st.integers(min_value=0, max_value=200))
def test_silence_in_python_and_in_sql_is_one_rule(silence_store, subscribed, heard, now_minutes):
    from workbench.store.subscription_silence import SILENT_SQL, is_silent, last_heard, silent_before
    now = T + timedelta(minutes=now_minutes)
    with silence_store.write() as con:
        con.execute("DELETE FROM mailbox_state")
        con.execute("INSERT INTO mailbox_state (operator_id, subscription_id, subscribed_at, last_notification_at) "
                    "VALUES ('OP-1', 'SUB', ?, ?)", [subscribed, heard])
    in_sql = silence_store.scalar(f"SELECT {SILENT_SQL} FROM mailbox_state", [silent_before(now, FREQ)])
    assert in_sql == is_silent(last_heard(subscribed, heard), now, FREQ)


def _subscriptions(store, url: str, rows: dict) -> None:
    """mailbox_state rows: operator -> (subscribed_at, last_notification_at)."""
    with store.write() as con:
        con.execute("DELETE FROM mailbox_state")
        for op, (created, heard) in rows.items():
            con.execute("INSERT INTO mailbox_state (operator_id, subscription_id, subscribed_at, "
                        "last_notification_at, subscription_url, subscription_frequency) VALUES (?, ?, ?, ?, ?, ?)",
                        [op, f"SUB-{op}", created, heard, url, FREQ])


def test_dashboard_check_and_watchdog_agree_on_silent_subscriptions(tmp_path):
    from workbench.agent.state import mailbox_rows
    from workbench.agent.subscriptions import plan_subscriptions
    from workbench.checks import agent_running
    from workbench.store import Store, now as store_now
    from workbench.store.settings_table import update
    from workbench.readmodels.overview import overview
    store = Store(tmp_path / "s.duckdb")
    store.migrate()
    url = "http://127.0.0.1:9/ews/notify"
    update(store, {"notification_url": url, "notification_frequency_minutes": str(FREQ)}, source="test")
    now = store_now()
    quiet, lately = timedelta(minutes=2 * FREQ + 1), timedelta(minutes=5)
    rows = {
        "OP-1": (now - quiet, None),                      # created, never heard: silent
        "OP-2": (now - quiet, now - lately),              # pinged lately
        "OP-3": (now - lately, now - quiet),              # re-created lately (the old ping is older)
        "OP-4": (now - 2 * quiet, now - quiet),           # silent
    }
    _subscriptions(store, url, rows)
    records = {op: row.record() for op, row in mailbox_rows(store).items()}
    actions = plan_subscriptions(list(rows), records, now, url=url, frequency_minutes=FREQ)
    assert sorted(a.operator_id for a in actions if a.reason == "silent") == ["OP-1", "OP-4"]
    assert overview(store, now).lapsed == 2
    assert agent_running(store, FREQ)                   # OP-2 and OP-3 are heard from
    _subscriptions(store, url, {op: rows[op] for op in ("OP-1", "OP-4")})
    assert not agent_running(store, FREQ)
