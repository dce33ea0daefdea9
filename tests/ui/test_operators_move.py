"""Moving an operator between backends from the Operators screen (issue 14), against the sandbox serving EWS and
Graph: `m` runs the dry run (the Graph client secret asked in the password modal) and shows it, `t` tries the other
backend, `y` moves; the store holds the override and the translated ids, the Backend column changes, and the next
sync creates nothing twice in the Graph mailbox."""
from __future__ import annotations

from ui_fixtures import aio, settle, until

from tests.graph.conftest import healthy_operators, hybrid_env, referee  # noqa: F401  (fixtures)
from tests.graph.test_graph_move import creates
from tests.graph.test_graph_sync import agree, sync_run
from tests.sync.conftest import mailbox_rows

from workbench.ui.widgets.move_review import MoveReviewScreen
from workbench.ui.widgets.paged_table import PagedTable


def _select(paged: PagedTable, operator_id: str) -> None:
    table = paged.table
    row = next(i for i in range(table.row_count) if str(table.get_row_at(i)[0]) == operator_id)
    table.move_cursor(row=row)


def _cell(paged: PagedTable, operator_id: str, column: str) -> str:
    table = paged.table
    at = [str(c.label) for c in table.columns.values()].index(column)
    return next(str(r[at]) for r in (table.get_row_at(i) for i in range(table.row_count)) if str(r[0]) == operator_id)


def _review_text(app) -> str:
    return str(app.screen.query_one("#mv-lines").render())


@aio
async def test_move_from_the_dashboard_dry_run_first(hybrid_env, monkeypatch) -> None:  # noqa: F811
    from workbench.ui.app import WorkbenchApp
    from workbench.ui.widgets.password import PasswordScreen
    env = hybrid_env
    op, email = healthy_operators(env)[0]
    rc, out, err = sync_run("--operator", op)
    assert rc == 0 and out["mailboxes"][0]["status"] == "ok", (err, out)
    links_before = env.store.df("SELECT contact_id, item_id FROM links WHERE operator_id = ? ORDER BY 1", [op])
    stored = env.store.scalar("SELECT count(*) FROM (SELECT item_id FROM links WHERE operator_id = ? UNION "
                              "SELECT item_id FROM exchange_contacts WHERE operator_id = ?)", [op, op])
    secret = env.graph["client_secret"]
    monkeypatch.delenv("WORKBENCH_GRAPH_CLIENT_SECRET")      # the dashboard asks for it (translateExchangeIds)
    app = WorkbenchApp(env.store)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("3")
        await settle(pilot)
        paged = app.screen.query_one("#ops-table", PagedTable)
        assert _cell(paged, op, "Backend") == "ews"
        _select(paged, op)
        await pilot.press("m")
        await until(pilot, lambda: isinstance(app.screen, PasswordScreen) and app.screen.query("#password"))
        app.screen.query_one("#password").value = secret
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MoveReviewScreen) and app.screen.target == "graph"
        assert f"would move ews -> graph; {stored} item ids translated, 0 no longer" in _review_text(app)
        assert env.store.df("SELECT contact_id, item_id FROM links WHERE operator_id = ? ORDER BY 1", [op]).equals(
            links_before), "the dry run writes nothing"

        await pilot.press("t")                        # the other backend: it is already there, nothing to move
        await settle(pilot)
        assert isinstance(app.screen, MoveReviewScreen) and app.screen.target == "ews"
        assert f"{op}: already on ews" in _review_text(app)
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, MoveReviewScreen), "nothing to move: y does nothing"
        await pilot.press("t")
        await settle(pilot)
        assert app.screen.target == "graph"
        await pilot.press("y")
        await settle(pilot)
        assert not isinstance(app.screen, MoveReviewScreen)
        assert env.store.rows("SELECT backend, source FROM operator_backends WHERE operator_id = ?", [op]) == [
            ("graph", "dashboard")]
        paged = app.screen.query_one("#ops-table", PagedTable)
        assert _cell(paged, op, "Backend") == "graph"

    monkeypatch.setenv("WORKBENCH_GRAPH_CLIENT_SECRET", secret)    # for the `sync run` subprocess below
    links_after = env.store.df("SELECT contact_id, item_id FROM links WHERE operator_id = ? ORDER BY 1", [op])
    assert list(links_after["contact_id"]) == list(links_before["contact_id"])
    assert not set(links_after["item_id"]) & set(links_before["item_id"]), "every id translated"
    assert env.store.scalar("SELECT count(*) FROM sync_log WHERE operator_id = ? AND action = 'move-backend'",
                            [op]) == 1
    before = creates(env)
    rc, out, err = sync_run("--operator", op)
    assert rc == 0 and out["mailboxes"][0]["status"] == "ok", (err, out)
    assert creates(env) == before, "nothing created twice"
    assert [r for r in env.sandbox.graph.requests if r.mailbox.lower() == email.lower()], "synced over Graph"
    agree(env, op, email)
    crm_ids = [r["crm_id"] for r in mailbox_rows(env.sandbox, email) if r["crm_id"]]
    assert len(crm_ids) == len(set(crm_ids))
