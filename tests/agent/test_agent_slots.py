"""Slots with an injected clock, the sync request queue, --once, and a kill + restart that resumes."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import datetime

import pytest
from exchangelib import Contact

from workbench.agent.scheduler import next_slot

from .conftest import wait_for
from .test_agent_push import OP, mailbox_account, ready

ENABLED = {"OP-001", "OP-002", "OP-003", "OP-004", "OP-005"}     # OP-006 has contact_sync false


def slot_runs(ra) -> int:
    return ra.agent.store.scalar("SELECT count(*) FROM sync_runs WHERE trigger = 'slot'")


def ticked(ra, n: int = 3):
    start = ra.agent.ticks
    assert wait_for(lambda: ra.agent.ticks >= start + n, timeout=10)


def test_slots_follow_the_injected_clock(verified_env, run_agent):
    ra = run_agent()                                   # clock at 10:01, 15-minute slots
    assert wait_for(lambda: ready(ra), timeout=30)
    assert ra.agent.store.scalar("SELECT min(next_slot_at) FROM mailbox_state") == datetime(2026, 3, 2, 10, 15)
    ra.agent.clock.set(datetime(2026, 3, 2, 10, 14, 59))
    ticked(ra)
    assert slot_runs(ra) == 0 and not ra.named("slot")
    ra.agent.clock.set(datetime(2026, 3, 2, 10, 15, 0))
    assert wait_for(lambda: slot_runs(ra) == len(ENABLED) and not ra.agent.busy(), timeout=60)
    [slot] = ra.named("slot")
    assert slot["at"] == "2026-03-02T10:15:00" and slot["next"] == "2026-03-02T10:30:00"
    assert ra.agent.store.rows("SELECT DISTINCT next_slot_at FROM mailbox_state WHERE operator_id IN "
                               "('OP-001','OP-002','OP-003','OP-004','OP-005')") == [(datetime(2026, 3, 2, 10, 30),)]
    ran = {e["operator"] for e in ra.named("sync-start") if e["kind"] == "full"}
    assert ran == ENABLED
    ticked(ra)
    assert slot_runs(ra) == len(ENABLED)               # one slot per boundary, not one per tick
    ra.agent.clock.set(datetime(2026, 3, 2, 10, 30, 0))
    assert wait_for(lambda: slot_runs(ra) == 2 * len(ENABLED), timeout=60)
    assert len(ra.named("slot")) == 2


def test_no_two_syncs_of_one_mailbox_at_once(verified_env, run_agent):
    ra = run_agent()
    assert wait_for(lambda: ready(ra), timeout=30)
    acc = mailbox_account(ra)
    ra.agent.clock.set(datetime(2026, 3, 2, 10, 15))                     # a slot ...
    for i in range(5):                                                   # ... while notifications pour in
        Contact(folder=acc.contacts, display_name=f"Burst {i}", given_name="Burst", surname=str(i),
                categories=["PegaSASync"]).save()
    from workbench.store.sync_requests import request_sync
    request_sync(ra.agent.store, [OP, OP, OP], "burst", source="test")
    assert wait_for(lambda: slot_runs(ra) == len(ENABLED) and not ra.agent.busy()
                    and ra.agent.store.scalar("SELECT count(*) FROM sync_requests WHERE done_at IS NULL") == 0,
                    timeout=60)
    # intervals of the runs that touched OP-004 never overlap
    runs = ra.agent.store.rows(
        "SELECT started_at, finished_at FROM sync_runs WHERE run_id IN "
        "(SELECT DISTINCT run_id FROM sync_log WHERE operator_id = ?) ORDER BY started_at", [OP])
    assert len(runs) >= 2
    for (s1, f1), (s2, _f2) in zip(runs, runs[1:]):
        assert f1 is not None and f1 <= s2
    # the burst was coalesced: fewer OP-004 jobs than triggers (5 creations + 3 requests + the slot)
    jobs = [e for e in ra.named("sync-start") if e["operator"] == OP and e["why"] != "start"]
    assert len(jobs) < 9


def test_a_workbench_change_queues_a_sync_of_its_operators(verified_env, run_agent):
    from workbench.store.sync_requests import request_sync
    from workbench.store import now
    ra = run_agent()
    assert wait_for(lambda: ready(ra), timeout=30)
    store = ra.agent.store
    contact_id, item_id = store.rows("SELECT contact_id, item_id FROM links WHERE operator_id = ? "
                                     "ORDER BY contact_id LIMIT 1", [OP])[0]
    with store.write() as con:        # an edit made in the CRM (what the dashboard's contact editor does)
        con.execute("UPDATE contacts SET job_title = 'Chief Tester', updated_at = ? WHERE contact_id = ?",
                    [now(), contact_id])
    request_sync(store, [OP], "contact edited", source="test")
    acc = mailbox_account(ra)
    assert wait_for(lambda: acc.contacts.get(id=item_id).job_title == "Chief Tester", timeout=10)
    assert wait_for(lambda: store.rows("SELECT outcome FROM sync_requests") == [("ok",)], timeout=5)


def test_once_subscribes_runs_one_slot_and_the_queue(verified_env):
    from workbench.store.sync_requests import request_sync
    from workbench.cli import main
    from workbench.store import Store
    store = verified_env.store
    request_sync(store, ["OP-004"], "contact edited", source="test")
    request_sync(store, ["OP-006"], "disabled operator", source="test")
    assert main(["agent", "--once", "--json-log"]) == 0
    store = Store(store.path)
    subs = store.rows("SELECT operator_id FROM mailbox_state WHERE subscription_id IS NOT NULL ORDER BY 1")
    assert subs == [("OP-004",), ("OP-005",)]
    assert store.scalar("SELECT count(*) FROM sync_runs WHERE trigger = 'slot'") == len(ENABLED)
    assert store.rows("SELECT operator_id, outcome FROM sync_requests ORDER BY 1") == [
        ("OP-004", "ok"), ("OP-006", "skipped")]


# ---------------------------------------------------------------- kill and restart (a real process)

def start_agent_process(tmp_path, name: str) -> tuple[subprocess.Popen, object]:
    log = open(tmp_path / f"{name}.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "agent"], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "WORKBENCH_DEBUG": "1"})
    return proc, log


def log_text(tmp_path, name: str) -> str:
    return (tmp_path / f"{name}.log").read_text()


def sync_requests_since(sandbox, start: int) -> list[bytes]:
    return [body for direction, body in sandbox.captured[start:] if direction == "request"]


def test_kill_and_restart_resumes_from_the_stored_sync_state(verified_env, tmp_path):
    from workbench.store import Store
    sandbox = verified_env.sandbox
    store = Store(verified_env.store.path)
    proc, _ = start_agent_process(tmp_path, "first")
    try:
        assert wait_for(lambda: store.scalar("SELECT count(*) FROM mailbox_state WHERE sync_state IS NOT NULL "
                                             "AND subscription_id IS NOT NULL") == 2
                        and "sync-done operator=OP-004" in log_text(tmp_path, "first"), timeout=60), \
            log_text(tmp_path, "first")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    state_before = store.scalar("SELECT sync_state FROM mailbox_state WHERE operator_id = ?", [OP])
    # while the agent is down, a contact is created in the mailbox
    from workbench.exchange.client import connect
    from workbench.store.settings_table import load
    acc = connect(load(store)).account("mei.demir4@example.com")
    c = Contact(folder=acc.contacts, display_name="While Down", given_name="While", surname="Down",
                categories=["PegaSASync"])
    c.save()
    mark = len(sandbox.captured)
    started = datetime.utcnow()
    proc, _ = start_agent_process(tmp_path, "second")
    try:
        assert wait_for(lambda: (r := store.rows(
            "SELECT 1 FROM links WHERE operator_id = ? AND item_id = ?", [OP, c.id])) and r, timeout=60), \
            log_text(tmp_path, "second")
        proc.send_signal(signal.SIGTERM)                     # graceful: finish the batch, commit, exit 0
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    if next_slot(started, 15) <= datetime.utcnow():
        pytest.skip("a real slot boundary passed during the restart; its full read is expected")
    text = log_text(tmp_path, "second")
    assert "agent-stopped" in text and "signal name=SIGTERM" in text
    bodies = sync_requests_since(sandbox, mark)
    syncs = [b for b in bodies if b"SyncFolderItems" in b]
    assert syncs and all(b"SyncState>" in b for b in syncs)           # every SyncFolderItems from a stored state
    assert not [b for b in bodies if b"<m:FindItem" in b and b"Restriction" not in b]   # no whole-folder read
    assert store.scalar("SELECT sync_state FROM mailbox_state WHERE operator_id = ?", [OP]) != state_before
