"""The demo organisation lives on (issue 15), driven the way a user does it, from a "repository root".

One world for the module: `workbench demo --no-tui` in ROOT/demo (a subprocess, no password variable
anywhere). Then: `make demo` again reopens it; `workbench demo --serve` in the background serves its
Exchange while the three notebooks run from ROOT/notebooks with only WORKBENCH_STORE=demo/workbench.duckdb
(the docs' relative path) and `workbench --store demo/workbench.duckdb check` passes; `make notebooks`'
launcher starts and stops that Exchange around Jupyter.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from notebook_runner import all_output_text, execute, result
from tests.conftest import user_env, workbench
from workbench.store import Store

#: one demo build with tests/demo (tests/conftest.py ``demo_world``)
pytestmark = pytest.mark.xdist_group("demo")

STORE = "demo/workbench.duckdb"          # as the docs write it, relative to the repository root
SEEDED_PROBLEMS = {"OP-001": "EWS_EMAIL_MISMATCH", "OP-002": "EWS_MAILBOX_NOT_FOUND",
                   "OP-003": "EWS_IMPERSONATION_DENIED"}
WAIT_SECONDS = 120


def snapshot(store: Store) -> set[tuple]:
    """What the store last saw in every mailbox: (operator, item id, change key)."""
    return set(store.rows("SELECT operator_id, item_id, change_key FROM exchange_contacts"))


def wait_for(check, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not check():
        assert time.monotonic() < deadline, f"{what} within {WAIT_SECONDS} s"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def root(demo_world: tuple[dict, Path]) -> Path:
    first, root = demo_world
    assert first["run_id"] == 1 and first["done"] > 0
    # a hybrid organisation: some operators on Graph from the start, one moved there after the first sync
    assert first["backends"] == {"ews": 17, "graph": 3} and first["move_run_status"] == "ok", first
    return root


def secrets_of(root: Path) -> dict:
    return json.loads((root / "demo" / "demo-secrets.json").read_text())


def test_make_demo_twice_reopens_the_same_world(root):
    store = Store(root / STORE)
    url = store.scalar("SELECT value FROM settings WHERE key = 'exchange_url'")
    runs_before = store.rows("SELECT run_id, status, planned, done FROM sync_runs ORDER BY run_id")
    seen_before = snapshot(store)
    assert seen_before

    again = workbench(root, "demo", "--no-tui", "--json", "--dir", "demo")
    assert again.returncode == 0, again.stderr
    assert "reopening the demo organisation" in again.stderr
    second = json.loads(again.stdout)
    # the same store with its history, one run more; the same Exchange on the same URL ...
    assert second["store"] == str(root / STORE) and second["check_ok"] is True
    runs_after = store.rows("SELECT run_id, status, planned, done FROM sync_runs ORDER BY run_id")
    assert runs_after[:len(runs_before)] == runs_before and len(runs_after) == len(runs_before) + 1
    assert store.scalar("SELECT value FROM settings WHERE key = 'exchange_url'") == url
    # ... holding the same mailbox contents: the first sync's items, same ids and change keys, nothing to do
    assert second["preview_writes"] == 0 and second["done"] == 0 and second["move"] == ""
    assert second["backends"] == {"ews": 17, "graph": 3}
    assert snapshot(store) == seen_before
    assert second["verified"] == {"ok": 17, "email-mismatch": 1, "mailbox-not-found": 1, "impersonation-denied": 1}


def test_a_user_serves_the_demo_then_runs_every_notebook_and_check_with_only_the_store_set(root, monkeypatch):
    for var in ("WORKBENCH_EWS_PASSWORD", "WORKBENCH_KEYSTORE_PASSWORD", "WORKBENCH_STORE"):
        monkeypatch.delenv(var, raising=False)
    serve = subprocess.Popen([sys.executable, "-m", "workbench", "demo", "--serve", "--dir", "demo"], cwd=root,
                             env=user_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: (root / "demo" / "serve.json").is_file() or serve.poll() is not None, "--serve started")
        assert serve.poll() is None, serve.communicate()
        kernel_dir = root / "notebooks"            # where Jupyter starts the kernels of notebooks/
        audit = result(execute("01-operator-audit.ipynb", Path(STORE), kernel_dir))
        assert audit["failing"] == SEEDED_PROBLEMS
        assert audit["counts"]["enabled_verified"] == audit["counts"]["enabled"] - 3
        assert {k: (v["operators"], v["pinned"]) for k, v in audit["backends"].items()} == {
            "ews": (21, 0), "graph": (3, 3)}
        preview_nb = execute("02-sync-preview.ipynb", Path(STORE), kernel_dir)
        preview = result(preview_nb)
        assert preview["errors"].keys() == {"OP-002", "OP-003"}
        assert preview["run"]["status"] == "ok" and preview["converged"] is True
        health = result(execute("03-sync-health.ipynb", Path(STORE), kernel_dir))
        assert health["runs"] >= 2 and set(health["failing_operators"]) >= {"OP-002", "OP-003"}

        check = workbench(root, "--store", STORE, "check", "--json")
        assert check.returncode == 0, check.stderr
        assert json.loads(check.stdout)["ok"] is True
        graph_check = workbench(root, "--store", STORE, "check", "--operator", "OP-004", "--json")
        assert graph_check.returncode == 0, graph_check.stdout + graph_check.stderr
        assert {s["step"] for s in json.loads(graph_check.stdout)["steps"]} >= {"token", "roles", "mailbox"}
        kept = secrets_of(root)
        for secret in (kept["keystore_password"], kept["ews_password"], kept["graph_client_secret"]):
            assert secret not in all_output_text(preview_nb) and secret not in check.stdout + check.stderr
            assert secret not in graph_check.stdout + graph_check.stderr
    finally:
        serve.send_signal(signal.SIGTERM)
        out, err = serve.communicate(timeout=60)
    assert serve.returncode == 0, err
    assert "stopped; its state is saved" in err
    assert not (root / "demo" / "serve.json").exists()


def test_make_notebooks_runs_the_demo_exchange_for_the_life_of_jupyter(root):
    """The launcher behind `make notebooks`, with a stand-in for Jupyter that runs `check` on the store."""
    stand_in = [sys.executable, "-m", "workbench", "check", "--json"]
    done = subprocess.run([sys.executable, "-m", "workbench.notebooks_launcher", *stand_in], cwd=root,
                          env=user_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ok"] is True           # the Exchange ran while "Jupyter" did ...
    assert "demo Exchange stopped" in done.stderr          # ... and was stopped after it
    assert not (root / "demo" / "serve.json").exists()
    port = json.loads((root / "demo" / "demo.json").read_text())["ews_port"]
    from workbench.demo_world import port_in_use
    assert not port_in_use(port)


def test_make_notebooks_starts_nothing_for_a_store_that_is_not_the_demo(root, tmp_path):
    other = tmp_path / "real" / "workbench.duckdb"
    other.parent.mkdir()
    stand_in = [sys.executable, "-c", "import os; print(os.environ['WORKBENCH_STORE'])"]
    done = subprocess.run([sys.executable, "-m", "workbench.notebooks_launcher", *stand_in], cwd=tmp_path,
                          env={**user_env(), "WORKBENCH_STORE": "real/workbench.duckdb"},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(other)                # passed on absolute
    assert "demo Exchange" not in done.stderr and not (root / "demo" / "serve.json").exists()


def test_serve_without_a_demo_and_a_store_from_an_older_demo_are_refused(tmp_path):
    served = workbench(tmp_path, "demo", "--serve", "--dir", "nothing-here")
    assert served.returncode == 2 and served.stderr.startswith("DEMO_NOT_FOUND:"), served.stderr
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "workbench.duckdb").write_bytes(b"")
    old = workbench(tmp_path, "demo", "--no-tui", "--dir", "old")
    assert old.returncode == 2 and old.stderr.startswith("DEMO_INCOMPLETE:"), old.stderr
    assert "Traceback" not in served.stderr + old.stderr
