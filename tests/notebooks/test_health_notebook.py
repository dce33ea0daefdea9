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
