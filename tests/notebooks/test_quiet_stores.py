"""The notebooks on stores where nothing happened yet: they explain, they do not crash."""
from __future__ import annotations

import pytest
from nbclient.exceptions import CellExecutionError

from journal_seed import fill_journal
from notebook_runner import execute, images, result, stdout_of, tagged
from workbench.store import Store


def test_health_notebook_on_a_store_without_runs(tmp_path):
    store = Store(tmp_path / "empty.duckdb")
    store.migrate()
    nb = execute("03-sync-health.ipynb", store.path, tmp_path / "run")
    got = result(nb)
    assert got["runs"] == 0 and got["failures_by_code"] == {} and got["batches"] == 0
    for cell in tagged(nb, "chart"):
        assert images(cell) == [] and stdout_of(cell).startswith("no ")


def test_audit_notebook_without_exchange_and_nobody_to_enable(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    fill_journal(store)                                   # six enabled operators, never verified
    nb = execute("01-operator-audit.ipynb", store.path, tmp_path / "run", parameters="VERIFY = False")
    got = result(nb)
    assert got["failing"] == {} and got["email_mismatches"] == [] and got["cohort"] == []
    assert got["counts"]["enabled_unverified"] == 6
    assert got["dry_run"] == {"processed": 0, "added": 0, "updated": 0, "unchanged": 0, "failed": 0,
                              "written": False}


def test_a_missing_store_is_a_clear_error_not_a_new_empty_store(tmp_path):
    missing = tmp_path / "typo.duckdb"
    with pytest.raises(CellExecutionError) as exc:
        execute("03-sync-health.ipynb", missing, tmp_path / "run")
    assert "FILE_NOT_FOUND" in str(exc.value)
    assert not missing.exists()
