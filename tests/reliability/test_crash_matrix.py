"""The crash figures of issue 19: SIGKILL and Ctrl-C of the CLI at deterministic points, then a rerun.

A sync is stopped once the sandbox has received its first write request (polled, bounded), not after a
wall-clock sleep. A 200,000-row operators import is killed once its store file grows (rows written, not yet
committed) or once the WAL is written (commit and checkpoint under way): the store then holds all of it or none
of it, and the next command does not wait for a stale lock.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.reliability.checks import WORKING, assert_nothing_lost, crm_rows, duplicated_crm_ids
from tests.sync.conftest import assert_converged, mailbox_of, mailbox_rows, writes_since
from workbench.store import Store
from workbench.sync.engine import run_sync

pytestmark = pytest.mark.slow

SYNC = [sys.executable, "-m", "workbench", "sync", "run", "--no-progress"]
POLLS = 3000                                        # x 20 ms: the bound on waiting for the first write
BIG = 200_000
KILL_POLLS = 30_000                                 # x 2 ms: the bound on waiting for a kill point


@pytest.fixture
def env(exchange_env):
    from workbench.store.settings_table import update
    update(exchange_env.store, {"batch_size": "4"}, source="test")
    exchange_env.sandbox.faults.set(latency_ms=50)      # the run lasts well past its first write
    return exchange_env


def start_until_first_write(env, *argv: str) -> tuple[subprocess.Popen, int]:
    """The CLI sync in a subprocess, returned (with the request mark) once the sandbox has received its first
    CreateItem/UpdateItem."""
    mark = len(env.sandbox.requests)
    proc = subprocess.Popen([*SYNC, *argv], env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    for _ in range(POLLS):
        if any(r.operation in ("CreateItem", "UpdateItem") for r in env.sandbox.requests[mark:]):
            assert proc.poll() is None, "the run ended before it could be stopped"
            return proc, mark
        if proc.poll() is not None:
            pytest.fail(f"the sync ended without a write: {proc.returncode} {proc.stderr.read()}")
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    pytest.fail(f"no write request within {POLLS} polls")


def assert_clean_state(env, before: tuple[set, set]) -> None:
    """What a clean run leaves: converged, no CRM id twice in any mailbox, no CRM row lost, nothing left to do."""
    assert_converged(env, WORKING)
    assert duplicated_crm_ids(env) == {}
    assert_nothing_lost(env.store, before)
    assert run_sync(env.store, WORKING).plan.is_empty


def synced_items(env) -> int:
    return sum(1 for op in WORKING for r in mailbox_rows(env.sandbox, mailbox_of(env.store, op)) if r["crm_id"])


def latest_run(store) -> tuple[int, str]:
    return store.rows("SELECT run_id, status FROM sync_runs ORDER BY run_id DESC LIMIT 1")[0]


def test_sigkill_after_the_first_write_is_marked_died_and_the_rerun_converges(env):
    before = crm_rows(env.store)
    proc, mark = start_until_first_write(env)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    stopped = len(writes_since(env.sandbox, mark))
    assert proc.returncode == -signal.SIGKILL
    landed = synced_items(env)
    assert landed > 0                               # the rerun meets items the killed run wrote but never booked
    killed, status = latest_run(env.store)
    assert status == "running"                      # nobody finished it
    env.sandbox.faults.clear()
    rerun = run_sync(env.store)
    assert rerun.run_id > killed
    assert env.store.scalar("SELECT status FROM sync_runs WHERE run_id = ?", [killed]) == "died"
    died = env.store.rows("SELECT action, outcome FROM sync_log WHERE run_id = ? AND code = 'SYNC_DIED'", [killed])
    assert died == [("run", "failed")]
    assert {m.operator_id: m.status for m in rerun.mailboxes if m.operator_id in WORKING} == dict.fromkeys(WORKING,
                                                                                                           "ok")
    assert_clean_state(env, before)
    print(f"\nSIGKILL after {stopped} write requests ({landed} items written): run {killed} marked died; the rerun did {rerun.done} writes "
          f"in {rerun.requests} requests, then nothing was left to do")


def test_ctrl_c_after_the_first_write_ends_the_run_cancelled_without_mail_and_the_rerun_converges(env):
    before = crm_rows(env.store)
    proc, mark = start_until_first_write(env, *[arg for op in WORKING for arg in ("--operator", op)])
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    stopped = len(writes_since(env.sandbox, mark))
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err and "INTERNAL" not in err, err
    run_id, status = latest_run(env.store)
    assert status == "cancelled"
    codes = env.store.rows("SELECT DISTINCT code FROM sync_log WHERE run_id = ? AND action = 'mailbox'", [run_id])
    assert ("SYNC_CANCELLED",) in codes, codes
    assert env.store.scalar("SELECT count(*) FROM notifications") == 0     # a person cancelled: no e-mail
    env.sandbox.faults.clear()
    rerun = run_sync(env.store, WORKING)
    assert {m.operator_id: m.status for m in rerun.mailboxes} == dict.fromkeys(WORKING, "ok")
    assert_clean_state(env, before)
    print(f"\nCtrl-C: run {run_id} cancelled after {stopped} write requests (exit 130, no e-mail); the rerun did "
          f"{rerun.done} writes in {rerun.requests} requests, then nothing was left to do")


# --- a 200,000-row operators import killed mid-way -------------------------------------------------------------

def cli(*argv: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workbench", *argv], env=os.environ.copy(), capture_output=True,
                          text=True, timeout=timeout)


def operator_ids(path: Path) -> set[str]:
    return {r[0] for r in Store(path).rows("SELECT operator_id FROM operators")}


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("big") / "big-operators.csv"
    with path.open("w", encoding="utf-8") as fh:
        fh.write("operator_id,name,email,contact_sync\n")
        for i in range(BIG):
            fh.write(f"BIG-{i:06d},Operator {i},big.{i}@example.com,false\n")
    return path


KILL_POINTS = {   # deterministic signals of the import's phases, seen from outside the process
    "store file growing": lambda store, size0: store.stat().st_size > size0,          # rows written, no commit
    "WAL written": lambda store, size0: wal_size(store) > 0,                          # commit/checkpoint under way
}


def wal_size(store: Path) -> int:
    wal = store.with_name(store.name + ".wal")
    return wal.stat().st_size if wal.exists() else 0


def import_killed_at(big_csv: Path, store: Path, reached) -> bool:
    """Start the import, SIGKILL it once ``reached(store, size0)``; False if it ended before (poll bound)."""
    size0 = store.stat().st_size
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "operators", "import", str(big_csv)],
                            env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(KILL_POLLS):
        if reached(store, size0) and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        if proc.poll() is not None:
            break
        time.sleep(0.002)
    proc.kill()
    proc.wait()
    return False


@pytest.mark.parametrize("point", KILL_POINTS, ids=KILL_POINTS)
def test_a_killed_200k_operators_import_leaves_all_or_nothing_and_no_stale_lock(big_csv, tmp_path, monkeypatch,
                                                                                point):
    demo = Path(__file__).resolve().parents[2] / "data" / "operators.csv"
    store = tmp_path / "wb.duckdb"
    monkeypatch.setenv("WORKBENCH_STORE", str(store))
    monkeypatch.setenv("WORKBENCH_LOCK_TIMEOUT", "5")
    assert cli("operators", "import", str(demo)).returncode == 0
    assert wal_size(store) == 0
    before = operator_ids(store)
    full = before | {f"BIG-{i:06d}" for i in range(BIG)}
    enabled = json.loads(cli("operators", "list", "--enabled", "--json").stdout)
    if not import_killed_at(big_csv, store, KILL_POINTS[point]):
        pytest.fail(f"the import ended before '{point}' was seen")
    now = operator_ids(store)
    assert now in (before, full), f"half an import: {len(now - before)} of {BIG} rows"
    # (d) no stale lock: the next command gets the store within WORKBENCH_LOCK_TIMEOUT=5
    listed = cli("operators", "list", "--enabled", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == enabled
    rerun = cli("operators", "import", str(big_csv))
    assert rerun.returncode == 0, rerun.stderr
    assert operator_ids(store) == full
    print(f"\n200,000-row import killed at '{point}': store "
          f"{'unchanged' if now == before else 'fully imported'}; the next command ran; the rerun imported all")
