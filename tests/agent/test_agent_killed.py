"""SIGKILL of `workbench agent` during a push burst, then a restart: the same end state as a clean run."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from exchangelib import Contact
from exchangelib.indexed_properties import EmailAddress

from tests.sync.conftest import assert_converged

from .conftest import wait_for

OP, MAILBOX = "OP-004", "mei.demir4@example.com"
BURST = 30

pytestmark = pytest.mark.slow


def start_agent(log_path):
    with open(log_path, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "workbench", "agent", "--json-log"], env=os.environ.copy(),
                                stdout=out, stderr=subprocess.STDOUT)


def subscribed(store) -> bool:
    return store.scalar("SELECT count(*) FROM mailbox_state WHERE subscription_id IS NOT NULL "
                        "AND sync_state IS NOT NULL") == 2


def linked(store, item_ids) -> int:
    marks = ", ".join("?" for _ in item_ids)
    return store.scalar(f"SELECT count(*) FROM links WHERE operator_id = ? AND item_id IN ({marks})", [OP, *item_ids])


def stop(proc) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_agent_killed_during_a_push_burst_then_restarted_ends_as_a_clean_run(verified_env, tmp_path):
    store = verified_env.store
    log = tmp_path / "agent.log"
    first = start_agent(log)
    try:
        assert wait_for(lambda: subscribed(store), timeout=90), log.read_text()[-2000:]
        runs_before = store.scalar("SELECT count(*) FROM sync_runs WHERE trigger = 'notification'")
        acc = verified_env.connect().account(MAILBOX)
        burst = [Contact(folder=acc.contacts, given_name="Burst", surname=f"{i:03}", display_name=f"Burst {i:03}",
                         email_addresses=[EmailAddress(label="EmailAddress1", email=f"burst{i:03}@client.example")],
                         categories=["PegaSASync"]) for i in range(BURST)]
        created = acc.bulk_create(acc.contacts, burst, chunk_size=5)          # six CreateItems: a burst of pushes
        item_ids = [c.id for c in created]
        # killed at a chosen point: once the agent has started syncing what the pushes announced
        assert wait_for(lambda: store.scalar("SELECT count(*) FROM sync_runs WHERE trigger = 'notification'")
                        > runs_before, timeout=60), log.read_text()[-2000:]
        first.kill()
        first.wait()
        left = linked(store, item_ids)
        second = start_agent(log)
        try:
            assert wait_for(lambda: linked(store, item_ids) == BURST, timeout=120), log.read_text()[-2000:]
            assert wait_for(lambda: store.scalar("SELECT count(*) FROM sync_runs WHERE status = 'running'") == 0,
                            timeout=60)
        finally:
            stop(second)
    finally:
        stop(first)
    print(f"\nagent killed with {left} of {BURST} burst contacts linked; after the restart all {BURST}")
    crm = store.rows("SELECT lower(email), count(*) FROM contacts WHERE email LIKE 'burst%@client.example' "
                     "GROUP BY 1")
    assert sorted(crm) == [(f"burst{i:03}@client.example", 1) for i in range(BURST)]      # once each, none lost
    unfinished = store.rows("SELECT status FROM sync_runs WHERE status NOT IN ('ok', 'partial', 'failed', 'cancelled')")
    assert set(unfinished) <= {("died",)}
    if left < BURST:            # the kill caught a run in flight: the restart marked it died, and journaled it
        assert ("died",) in unfinished
        assert store.scalar("SELECT count(*) FROM sync_log WHERE code = 'SYNC_DIED'") >= 1
    assert_converged(verified_env, [OP])
