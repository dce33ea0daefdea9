"""03-sync-health executed top to bottom against a store with a journal."""
from __future__ import annotations

import base64

from notebook_runner import execute, images, result, tagged
from journal_seed import fill_journal
from workbench.store import Store

PNG = b"\x89PNG\r\n\x1a\n"


def test_health_notebook_reports_the_journal_and_renders_every_chart(tmp_path):
    store = Store(tmp_path / "store.duckdb")
    expected = fill_journal(store)
    nb = execute("03-sync-health.ipynb", store.path, tmp_path / "run")
    got = result(nb)
    assert got["runs"] == expected["runs"]
    assert got["failures_by_code"] == expected["failures_by_code"]
    assert got["throttled"] == expected["throttled"]
    assert got["batches"] == expected["batches"]
    assert sorted(got["failing_operators"]) == expected["failing_operators"]
    assert got["summary"]["failure_emails"] == 1
    charts = tagged(nb, "chart")
    assert len(charts) == 5
    for cell in charts:
        pngs = images(cell)
        assert len(pngs) == 1, f"chart cell did not render: {cell.source.splitlines()[-1]}"
        assert base64.b64decode(pngs[0]).startswith(PNG)


def test_health_notebook_on_the_journal_of_real_runs_against_a_throttling_exchange(exchange_env, tmp_path):
    from collections import Counter

    from workbench.sync.engine import run_sync

    env = exchange_env
    env.sandbox.faults.set(throttle_share=0.3, backoff_ms=20, seed=7)
    results = [run_sync(env.store, trigger="slot"), run_sync(env.store, trigger="slot")]
    env.sandbox.faults.clear()
    results.append(run_sync(env.store, trigger="slot"))
    busy = sum(1 for r in env.sandbox.requests if r.outcome == "ErrorServerBusy")
    assert busy > 0, "the sandbox throttled nothing; raise throttle_share"

    nb = execute("03-sync-health.ipynb", env.store.path, tmp_path / "run")
    got = result(nb)

    failed = Counter(m.code for r in results for m in r.mailboxes if m.status in ("failed", "cancelled"))
    assert got["runs"] == len(results)
    assert {k: v for k, v in got["failures_by_code"].items() if k in failed} == dict(failed)
    assert set(got["failing_operators"]) >= {"OP-002", "OP-003"}               # no mailbox, impersonation denied
    summary = got["summary"]
    assert summary["run_retries"] == sum(r.retries for r in results) > 0
    assert 0 < got["throttled"] <= busy                                      # every retry answers a real 'busy'
    assert summary["failure_emails"] == sum(m.notified for r in results for m in r.mailboxes) >= 2
    assert summary["batches"] == got["batches"] > 0
    assert summary["batch_items"] >= results[0].done
    for cell in tagged(nb, "chart"):
        assert len(images(cell)) == 1, f"chart cell did not render: {cell.source.splitlines()[-1]}"
