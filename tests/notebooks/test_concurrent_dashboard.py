"""A notebook runs while another process uses the store the way the dashboard does."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from journal_seed import fill_journal
from notebook_runner import execute, result
from workbench.store import Store

LOOP = Path(__file__).with_name("dashboard_loop.py")


class DashboardProcess:
    def __init__(self, store_path: Path, workdir: Path) -> None:
        self.status = workdir / "dashboard-status.json"
        self.stop_file = workdir / "dashboard-stop"
        self.proc = subprocess.Popen([sys.executable, str(LOOP), str(store_path), str(self.status),
                                      str(self.stop_file)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)

    def rounds(self) -> int:
        return json.loads(self.status.read_text())["rounds"] if self.status.exists() else 0

    def wait_for_first_round(self) -> None:
        deadline = time.monotonic() + 60
        while self.rounds() < 1:
            assert self.proc.poll() is None, self.proc.communicate()
            assert time.monotonic() < deadline, "the dashboard stand-in never completed a round"
            time.sleep(0.05)

    def stop(self) -> tuple[int, dict, str]:
        self.stop_file.touch()
        try:
            _out, err = self.proc.communicate(timeout=120)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        return self.proc.returncode, json.loads(self.status.read_text()), err


def test_health_notebook_runs_while_the_dashboard_reads_and_writes_the_store(tmp_path):
    store = Store(tmp_path / "store.duckdb")
    expected = fill_journal(store)
    dashboard = DashboardProcess(store.path, tmp_path)
    try:
        dashboard.wait_for_first_round()
        before = dashboard.rounds()
        nb = execute("03-sync-health.ipynb", store.path, tmp_path / "run")
        during = dashboard.rounds() - before
    finally:
        code, status, err = dashboard.stop()
    assert code == 0 and status["errors"] == [], (status["errors"][:5], err[-2000:])
    assert during > 0, "the dashboard stand-in made no progress while the notebook ran"
    assert result(nb)["failures_by_code"] == expected["failures_by_code"]
    history = store.df("SELECT count(*) AS n FROM settings_changes WHERE source = 'dashboard'")
    assert history["n"][0] == status["changes"] > 0


def test_preview_notebook_syncs_while_the_dashboard_reads_and_writes_the_store(exchange_env, tmp_path):
    """The notebook that writes most (snapshots, a real run, the journal) against the dashboard's traffic."""
    env = exchange_env
    dashboard = DashboardProcess(env.store.path, tmp_path)
    try:
        dashboard.wait_for_first_round()
        before = dashboard.rounds()
        nb = execute("02-sync-preview.ipynb", env.store.path, tmp_path / "run")
        during = dashboard.rounds() - before
    finally:
        code, status, err = dashboard.stop()
    assert code == 0 and status["errors"] == [], (status["errors"][:5], err[-2000:])
    assert during > 0, "the dashboard stand-in made no progress while the notebook ran"
    got = result(nb)
    assert got["run"]["status"] == "ok" and got["run"]["done"] == got["run"]["planned"] > 0, got["run"]
    assert got["converged"], got["left_after_run"]
    linked = env.store.scalar("SELECT count(*) FROM links WHERE operator_id = ?", [got["run"]["mailboxes"][0]["operator_id"]])
    assert linked > 0
    assert env.store.scalar("SELECT count(*) FROM settings_changes WHERE source = 'dashboard'") == status["changes"] > 0
