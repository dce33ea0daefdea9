"""`workbench demo --no-tui` end to end: sandbox, fresh store, check -> verify -> preview -> sync."""
from __future__ import annotations

import json
import os
import stat
from collections import Counter

from workbench.cli import main
from workbench.store import Store


def test_demo_pipeline_summary_matches_the_store(tmp_path, capsys, monkeypatch):
    for var in ("WORKBENCH_STORE", "WORKBENCH_EWS_PASSWORD", "WORKBENCH_KEYSTORE_PASSWORD"):
        monkeypatch.setenv(var, "")          # restored after the test; the demo sets them in-process
    demo_dir = tmp_path / "demo"
    umask = os.umask(0o022)                  # a usual umask: the private files must be 0600 all the same
    try:
        code = main(["demo", "--no-tui", "--json", "--dir", str(demo_dir)])
    finally:
        os.umask(umask)
    out = capsys.readouterr().out
    summary = json.loads(out)
    assert code == 0, out
    store = Store(summary["store"])

    # check: the stored check run says what the summary says
    assert summary["check_ok"] is True
    assert store.scalar("SELECT ok FROM check_runs ORDER BY run_id DESC LIMIT 1") is True

    # verify: one check per enabled operator; the three problem operators of data/ are found
    latest = store.rows("SELECT status FROM operator_checks")
    assert Counter(s for (s,) in latest) == Counter(summary["verified"])
    assert summary["verified"].get("ok") == 17
    assert {p.split()[0] for p in summary["verify_problems"]} == {"OP-001", "OP-002", "OP-003"}

    # preview then sync: the run row and the journal agree with the summary
    run = store.rows("SELECT run_id, status, planned, done, failed, dry_run FROM sync_runs "
                     "WHERE run_id = ?", [summary["run_id"]])[0]
    assert run[1:] == (summary["run_status"], summary["planned"], summary["done"], summary["failed"], False)
    assert summary["done"] > 0 and summary["planned"] >= summary["preview_writes"] - 10
    ok_writes = store.scalar("SELECT count(*) FROM sync_log WHERE run_id = ? AND outcome = 'ok' AND action IN "
                             "('create-exchange', 'update-exchange', 'delete-exchange', 'create-crm', "
                             "'update-crm', 'link', 'unlink-crm', 'forget')", [summary["run_id"]])
    assert ok_writes == summary["done"]
    assert summary["mailboxes"]["OP-002"].startswith("failed EWS_MAILBOX_NOT_FOUND")
    assert summary["mailboxes"]["OP-003"].startswith("failed EWS_IMPERSONATION_DENIED")
    assert store.scalar("SELECT count(*) FROM links") > 0

    # the demo's store, its lock and the keystore are private to the user
    for name in ("workbench.duckdb", "workbench.duckdb.lock", "exchange.jks"):
        assert stat.S_IMODE((demo_dir / name).stat().st_mode) == 0o600, name

    # secrets never reach the store
    raw = (demo_dir / "workbench.duckdb").read_bytes()
    sandbox_password = json.loads((demo_dir / "sandbox" / "sandbox.json").read_text())["service_account"]["password"]
    assert sandbox_password.encode() not in raw
