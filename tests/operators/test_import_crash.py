"""An import is all-or-nothing even when the process is killed (SIGKILL) in the middle of it."""
from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from op_helpers import DATA, HEADER
from workbench.operators.csv_import import PAUSE_ENV, import_operators
from workbench.store import Store

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
CONTENT = "SELECT operator_id, name, email, contact_sync, source FROM operators ORDER BY operator_id"
N = 60_000


def _big_file(path: Path) -> None:
    """60k new operators plus an update of every demo operator (flag flipped)."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(HEADER)
        for line in (DATA / "operators.csv").read_text(encoding="utf-8").splitlines()[1:]:
            oid, name, email, flag = line.split(",")
            fh.write(f"{oid},{name},{email},{'false' if flag == 'true' else 'true'}\n")
        fh.writelines(f"BULK-{i:06d},Bulk Operator {i},bulk.{i}@example.com,{'true' if i % 3 else 'false'}\n"
                      for i in range(N))


@pytest.fixture(scope="module")
def crash_setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("crash")
    base = Store(d / "base.duckdb")
    assert import_operators(base, DATA / "operators.csv").written
    big = d / "big.csv"
    _big_file(big)
    done = d / "done.duckdb"
    shutil.copy(base.path, done)
    assert import_operators(Store(done), big).written
    old_exact = base.rows("SELECT * FROM operators ORDER BY operator_id")
    new = Store(done).rows(CONTENT)
    assert len(new) == 24 + N
    return d, base.path, big, old_exact, new


def _start(store: Path, big: Path, env_extra: dict[str, str]) -> subprocess.Popen:
    env = {**os.environ, "WORKBENCH_STORE": str(store), **env_extra}
    return subprocess.Popen([sys.executable, "-m", "workbench", "operators", "import", str(big)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _state(store: Path, old_exact, new) -> str:
    s = Store(store)
    if s.rows("SELECT * FROM operators ORDER BY operator_id") == old_exact:
        return "old"
    if s.rows(CONTENT) == new:
        return "new"
    return "MIXED"


def test_kill_inside_the_transaction_before_commit_leaves_the_old_content(crash_setup, tmp_path):
    _, base, big, old_exact, new = crash_setup
    store = tmp_path / "s.duckdb"
    shutil.copy(base, store)
    proc = _start(store, big, {PAUSE_ENV: "60"})
    try:
        line = proc.stderr.readline()          # written after the INSERT and UPDATE, before COMMIT
        assert "pausing before COMMIT" in line, line
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert _state(store, old_exact, new) == "old"


def test_kill_at_random_points_leaves_old_or_complete_new_content(crash_setup, tmp_path):
    _, base, big, old_exact, new = crash_setup
    # how long one full run takes here, to spread the kill points over it (not an assertion)
    store = tmp_path / "probe.duckdb"
    shutil.copy(base, store)
    t0 = time.monotonic()
    proc = _start(store, big, {})
    proc.communicate()
    full = time.monotonic() - t0
    assert proc.returncode == 0 and _state(store, old_exact, new) == "new"

    rng = random.Random(int(os.environ.get("CRASH_SEED", "5")))
    seen = []
    for attempt in range(10):
        store = tmp_path / f"s{attempt}.duckdb"
        shutil.copy(base, store)
        proc = _start(store, big, {})
        time.sleep(rng.uniform(0.2, 1.1) * full)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        state = _state(store, old_exact, new)
        seen.append((round(proc.returncode or 0), state))
        assert state in ("old", "new"), f"attempt {attempt}: operators table is neither old nor new"
    print("kill outcomes (returncode, state):", seen)
