"""Several operators moved at once from the Operators screen (issue 14), against the sandbox serving EWS and Graph:
`x` marks rows, `m` runs the dry run for every marked operator and the review lists each (from -> to, ids
translated, a mailbox Graph refuses as failed), `y` moves the others in a worker with progress; the failed one
stays marked, the Backend column changes, and the next sync creates nothing twice in the Graph mailboxes."""
from __future__ import annotations

import pytest
from test_operators_move import _review_text, _select
from ui_fixtures import aio, settle, until

from tests.graph.conftest import referee  # noqa: F401  (fixture)
from tests.graph.move_world import links_of, move_world
from tests.graph.test_graph_move import creates
from tests.graph.test_graph_sync import agree, sync_run
from tests.sync.conftest import mailbox_rows

from workbench.ui.widgets.move_review import MoveReviewScreen
from workbench.ui.widgets.paged_table import PagedTable

pytestmark = pytest.mark.xdist_group("move-many-ui")


def _cell(paged: PagedTable, operator_id: str, column: str) -> str:
    """A cell of the operator's row, found by its row key (the shown id carries the mark)."""
    at = [str(c.label) for c in paged.table.columns.values()].index(column)
    return str(paged.table.get_row(operator_id)[at])


@pytest.fixture(scope="module")
def world(tmp_path_factory, seed_dir, ews_schema_dir, seeded_store_file, referee):  # noqa: F811
    with move_world(tmp_path_factory, seed_dir, ews_schema_dir, seeded_store_file, referee) as w:
        yield w


@aio
async def test_mark_several_review_each_then_move_them_in_a_worker(world, monkeypatch) -> None:
    from workbench.ui.app import WorkbenchApp
    env = world.env
    monkeypatch.setenv("WORKBENCH_STORE", str(env.store.path))     # the `sync run` subprocess below
    (one, one_mail), (two, two_mail), (stay, _), (refuse, refuse_mail) = world.ops
    app_scope = env.sandbox.graph.default_app
    env.sandbox.graph.set_scope(app_scope.client_id, [a for a in app_scope.scope if a != refuse_mail.lower()])
    links = {op: links_of(env.store, op) for op in (one, two, refuse)}
    stored = env.store.scalar("SELECT count(*) FROM (SELECT item_id FROM links WHERE operator_id = ? UNION "
                              "SELECT item_id FROM exchange_contacts WHERE operator_id = ?)", [one, one])
    app = WorkbenchApp(env.store)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("3")
        await settle(pilot)
        paged = app.screen.query_one("#ops-table", PagedTable)
        for op in (one, two, refuse):
            _select(paged, op)
            await pilot.press("x")
        _select(paged, stay)                      # the cursor is elsewhere: the marks are what moves
        assert paged.marked == {one, two, refuse}
        assert "3 marked" in str(paged.query_one(".pager").render())
        assert _cell(paged, one, "Operator").startswith("● ")
        await pilot.press("m")
        await settle(pilot)
        assert isinstance(app.screen, MoveReviewScreen) and app.screen.target == "graph"
        text = _review_text(app)
        assert f"{one} ({one_mail}): would move ews -> graph; {stored} item ids translated, 0 no longer" in text
        assert f"{two} ({two_mail}): would move ews -> graph" in text
        assert f"{refuse} ({refuse_mail}): not moved ews -> graph, nothing written: GRAPH_SCOPE_DENIED" in text
        assert stay not in text
        assert str(app.screen.query_one("#mv-summary").render()) == (
            "3 operators: 2 would move, 1 failed; dry run, nothing written")
        assert env.store.scalar("SELECT count(*) FROM operator_backends") == 0, "the dry run writes nothing"
        await pilot.press("y")
        await until(pilot, lambda: env.store.scalar("SELECT count(*) FROM operator_backends") == 2)
        await settle(pilot)
        assert not isinstance(app.screen, MoveReviewScreen)
        paged = app.screen.query_one("#ops-table", PagedTable)
        assert str(app.screen.query_one("#ops-progress-label").render()) == f"moving 2/2: {two} moved"
        assert not app.screen.query_one("#ops-progress-row").display, "the bar goes when the moves are done"
        assert (_cell(paged, one, "Backend"), _cell(paged, two, "Backend")) == ("graph", "graph")
        assert _cell(paged, refuse, "Backend") == "ews"
        assert paged.marked == {refuse}, "the failed operator stays marked: m retries it"
        toast = [n.message for n in app._notifications if n.title == "Move"][-1]
        assert toast.startswith("2 operators: 2 moved") and f"{one} ({one_mail}): moved ews -> graph" in toast
        assert toast.endswith(f"still marked (m retries): {refuse}"), toast

    assert env.store.rows("SELECT operator_id, backend, source FROM operator_backends ORDER BY 1") == sorted(
        [(one, "graph", "dashboard"), (two, "graph", "dashboard")])
    assert links_of(env.store, refuse) == links[refuse]
    assert env.store.scalar("SELECT count(*) FROM sync_log WHERE action = 'move-backend'") == 2
    before = creates(env)
    rc, out, err = sync_run("--operator", one, "--operator", two)
    assert rc == 0 and {m["status"] for m in out["mailboxes"]} == {"ok"}, (err, out)
    assert creates(env) == before, "nothing created twice"
    for op, mail in ((one, one_mail), (two, two_mail)):
        agree(env, op, mail)
        crm_ids = [r["crm_id"] for r in mailbox_rows(env.sandbox, mail) if r["crm_id"]]
        assert len(crm_ids) == len(set(crm_ids))
