"""The Operators screen shows the backend serving each operator's mailbox (hybrid organisations, issue 14)."""
from __future__ import annotations

from ui_fixtures import aio, settle

from workbench.operators.backend_choice import set_backend
from workbench.store.settings_table import update
from workbench.ui.widgets.paged_table import PagedTable


def _backends(paged: PagedTable) -> dict[str, str]:
    table = paged.table
    header = [str(c.label) for c in table.columns.values()]
    at = header.index("Backend")
    return {str(row[0]): str(row[at]) for row in (table.get_row_at(i) for i in range(table.row_count))}


@aio
async def test_backend_column_is_the_override_else_the_organisation_setting(make_app, store):
    set_backend(store, ["OP-002"], "graph", source="test")
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        await settle(pilot)
        paged = app.screen.query_one("#ops-table", PagedTable)
        shown = _backends(paged)
        assert shown["OP-002"] == "graph"
        assert {v for k, v in shown.items() if k != "OP-002"} == {"ews"}
        set_backend(store, ["OP-003"], "ews", source="test")            # pinned to the organisation's value
        update(store, {"backend": "graph"}, source="test")
        app.screen.refresh_data()
        await settle(pilot)
        shown = _backends(paged)
        assert (shown["OP-002"], shown["OP-003"]) == ("graph", "ews")
        assert {v for k, v in shown.items() if k not in ("OP-002", "OP-003")} == {"graph"}


@aio
async def test_overview_counts_the_operators_per_backend(make_app, store):
    set_backend(store, ["OP-002", "OP-005"], "graph", source="test")
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        shown = str(app.screen.query_one("#ov-operators").render())
        assert shown.splitlines()[-1].strip() == "22 ews · 2 graph"
