"""The run always ends: a mailbox worker blocked inside the library is abandoned by the watchdog."""
from __future__ import annotations

import threading
from contextlib import contextmanager

import pytest

from tests.sync.conftest import assert_converged, mailbox_of
from workbench.sync.engine import run_sync
from workbench.exchange.backend import EwsBackend

OP = "OP-004"


@pytest.fixture
def env(exchange_env, monkeypatch):
    monkeypatch.setenv("WORKBENCH_LOCK_TIMEOUT", "2")        # the watchdog's grace includes the store gate's wait
    return exchange_env


@contextmanager
def starved_pool(env):
    """A connection whose only session is held: exchangelib then waits for a session without end, the symptom of
    upstream #1373. On exit the session comes back, and the abandoned workers finish before the pool closes
    (they hold exchangelib's process-wide ``Account.root`` lock while they wait)."""
    conn = env.connect(timeout=1, max_connections=1)
    held = conn.protocol.get_session()
    try:
        yield conn
    finally:
        conn.protocol.release_session(held)
        for thread in threading.enumerate():
            if thread.name.startswith("sync-"):
                thread.join(30)
        conn.close()


def test_a_worker_waiting_for_a_session_for_ever_is_abandoned_and_the_run_ends(env):
    with starved_pool(env) as conn:
        result = run_sync(env.store, [OP], backend=EwsBackend(conn), deadline_seconds=1)
    box = result.mailbox(OP)
    assert (result.status, box.status, box.code) == ("failed", "failed", "SYNC_WORKER_STUCK")
    run = env.store.rows("SELECT status, finished_at IS NOT NULL FROM sync_runs WHERE run_id = ?", [result.run_id])
    assert run == [("failed", True)]
    log = env.store.df("SELECT action, outcome, code, detail FROM sync_log WHERE run_id = ? ORDER BY log_id",
                       [result.run_id])
    stuck = log[(log["action"] == "mailbox") & (log["code"] == "SYNC_WORKER_STUCK")]
    assert len(stuck) == 1 and mailbox_of(env.store, OP) in stuck["detail"].iloc[0]
    # the failure e-mail cannot go either (same starved pool): the notify phase gives up within its budget (the
    # abandoned sender may still deliver it once the pool is free again, and journals that too)
    notify = log[log["action"] == "notify"]
    assert notify[["outcome", "code"]].values.tolist()[0] == ["failed", "SYNC_WORKER_STUCK"]
    assert "abandoned" in notify["detail"].iloc[0]
    state = env.store.rows("SELECT failure_streak, last_error_code FROM mailbox_state WHERE operator_id = ?", [OP])
    assert state == [(1, "SYNC_WORKER_STUCK")]
    again = run_sync(env.store, [OP])
    assert again.mailbox(OP).status == "ok"
    assert_converged(env, [OP])
