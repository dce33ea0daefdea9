"""SIGKILL the CLI at chosen points of a run (the engine's fault hook), run again: nothing duplicated, nothing
lost. The kill lands exactly at the point (``WORKBENCH_TEST_KILL_AT``), not after a wall-clock sleep."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys

import pytest

from tests.reliability.checks import WORKING, assert_nothing_lost, crm_rows, duplicated_crm_ids
from tests.sync.conftest import WRITE_OPS, assert_converged
from workbench.sync import faults

pytestmark = pytest.mark.slow

CMD = [sys.executable, "-m", "workbench", "sync", "run", "--no-progress", "--json"]


def _run(kill_at: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != faults.ENV}
    if kill_at:
        env[faults.ENV] = kill_at
    return subprocess.run(CMD, env=env, capture_output=True, text=True, timeout=300)


def test_sync_killed_at_random_points_then_rerun_converges(env):
    from workbench.store.settings_table import update
    update(env.store, {"batch_size": "4", "mass_delete_percent": "100"}, source="test")
    before = crm_rows(env.store)
    rng = random.Random(20240611)
    # every point once, in a shuffled order, each at its first or second hit; then one more random point
    points = rng.sample(faults.POINTS, len(faults.POINTS)) + [rng.choice(faults.POINTS)]
    for point in points:
        kill_at = f"{point}:{rng.randint(1, 2)}"
        mark = len(env.sandbox.requests)
        proc = _run(kill_at)
        assert proc.returncode == -signal.SIGKILL, f"{kill_at}: the run was not killed there ({proc.returncode}): " \
                                                   f"{proc.stderr[-2000:]}"
        assert "Traceback" not in proc.stderr, proc.stderr
        sent = [r for r in env.sandbox.requests[mark:] if r.operation in WRITE_OPS]
        if point in (faults.AFTER_REQUEST, faults.BEFORE_JOURNAL):
            assert sent, f"{kill_at}: killed inside a batch, so Exchange had received its write"
        print(f"\nkilled at {kill_at}: {len(sent)} write request(s) sent by the killed run")
        assert duplicated_crm_ids(env) == {}, f"{kill_at}: a CRM id twice in a mailbox"
    update(env.store, {"batch_size": "200"}, source="test")     # small batches only matter for where the kills land
    final = _run()
    assert final.returncode in (0, 1), final.stderr
    assert_converged(env, WORKING)
    assert duplicated_crm_ids(env) == {}
    assert_nothing_lost(env.store, before)
    again = _run()
    assert json.loads(again.stdout)["planned"] == 0                 # and nothing is left to do


def test_a_malformed_kill_point_is_refused_before_the_run_starts(env):
    runs = env.store.scalar("SELECT count(*) FROM sync_runs")
    proc = _run("nowhere:0")
    assert proc.returncode == 2, proc.stderr
    assert "USAGE" in proc.stderr and faults.ENV in proc.stderr and "'nowhere:0'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert env.store.scalar("SELECT count(*) FROM sync_runs") == runs
