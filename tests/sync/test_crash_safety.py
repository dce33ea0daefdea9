"""SIGKILL the CLI at random points (mid-batch included), run again: nothing duplicated, nothing lost."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from tests.sync.conftest import assert_converged

pytestmark = pytest.mark.slow


def test_sync_killed_at_random_points_then_rerun_converges(env):
    from workbench.store.settings_table import update
    update(env.store, {"batch_size": "4", "mass_delete_percent": "100"}, source="test")
    env.sandbox.faults.set(latency_ms=30)
    crm_before = {r[0] for r in env.store.rows("SELECT contact_id FROM contacts")}
    team_before = set(env.store.rows("SELECT contact_id, operator_id FROM contact_team"))
    rng = random.Random(20240611)
    cmd = [sys.executable, "-m", "workbench", "sync", "run", "--no-progress", "--json"]
    kills = 0
    mid_write = 0
    attempts = 0
    while kills < 6 and attempts < 20:
        attempts += 1
        mark = len(env.sandbox.requests)
        proc = subprocess.Popen(cmd, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(1.0, 3.5))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            kills += 1
            if any(r.operation in ("CreateItem", "UpdateItem", "DeleteItem") for r in env.sandbox.requests[mark:]):
                mid_write += 1
        else:
            proc.wait()
    assert kills >= 5, f"only {kills} kills landed"
    assert mid_write >= 1
    env.sandbox.faults.clear()
    final = subprocess.run(cmd, env=os.environ.copy(), capture_output=True, text=True, timeout=300)
    assert final.returncode in (0, 1), final.stderr
    assert_converged(env, ["OP-001", "OP-004", "OP-005"])
    crm_after = {r[0] for r in env.store.rows("SELECT contact_id FROM contacts")}
    assert crm_before <= crm_after                                  # no CRM row lost
    assert team_before <= set(env.store.rows("SELECT contact_id, operator_id FROM contact_team"))
    # and nothing is left to do
    again = subprocess.run(cmd, env=os.environ.copy(), capture_output=True, text=True, timeout=300)
    import json
    assert json.loads(again.stdout)["planned"] == 0
