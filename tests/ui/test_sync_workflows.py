"""Pilot tests against the sandbox Exchange: preview then apply; cancel a running sync; verify."""
from __future__ import annotations

from ui_fixtures import aio, settle, shown, until

from workbench.ui.widgets.confirm import Confirm


def _app(env):
    from workbench.ui.app import WorkbenchApp
    return WorkbenchApp(env.store)


@aio
async def test_preview_then_apply(exchange_env):
    env = exchange_env
    app = _app(env)
    db = app.store       # the app's threads and this test share the store the way the app does
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        await settle(pilot)
        assert app.screen.check_action("apply", ()) is None          # nothing to apply before a plan
        await pilot.press("p")
        await settle(pilot)
        pv = app.screen.preview
        assert pv is not None and len(pv.plan.writes) > 0
        summary = app.screen.query_one("#pv-summary")
        first_action = str(summary.get_row_at(0)[0])
        assert first_action in set(pv.summary["action"])
        detail = app.screen.query_one("#pv-detail")
        assert detail.row_count > 0
        notes = str(app.screen.query_one("#pv-notes").render())   # each unread mailbox: its code and title
        assert "✗ OP-002 EWS_MAILBOX_NOT_FOUND\n  Mailbox not found" in notes
        assert "✗ OP-003 EWS_IMPERSONATION_DENIED\n  Impersonation denied" in notes
        skip_row = [str(summary.get_row_at(i)[0]) for i in range(summary.row_count)].index("skip")
        summary.move_cursor(row=skip_row)                          # a skip changes no field: its reason is shown
        await settle(pilot)
        assert [str(c.label) for c in detail.columns.values()] == ["Contact / item", "Reason / code"]
        assert all(str(detail.get_row_at(i)[1]).startswith("SKIPPED_") for i in range(detail.row_count))
        summary.move_cursor(row=0)
        await settle(pilot)
        # nothing written to Exchange by the preview
        assert db.scalar("SELECT count(*) FROM sync_runs WHERE NOT dry_run") == 0
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, Confirm)
        await pilot.press("y")
        await settle(pilot)
        await until(pilot, lambda: db.scalar(
            "SELECT count(*) FROM sync_runs WHERE trigger = 'dashboard' AND status <> 'running'") == 1)
        await settle(pilot)
        run_id, status, done, failed = db.rows(
            "SELECT run_id, status, done, failed FROM sync_runs WHERE trigger = 'dashboard'")[0]
        # the mailboxes the preview could not read (no mailbox, impersonation denied) are part of the apply:
        # failed, journaled and e-mailed, so the run is partial exactly as `r` or the CLI report it
        assert set(pv.errors) == {"OP-002", "OP-003"}
        assert status == "partial" and done >= len(pv.plan.writes) - 5 and failed == 0
        assert sorted(db.rows("SELECT operator_id, outcome FROM sync_log WHERE run_id = ? AND action = 'mailbox'",
                              [run_id])) == [("OP-002", "failed"), ("OP-003", "failed")]
        assert sorted(r[0] for r in db.rows("SELECT operator_id FROM notifications WHERE run_id = ?",
                                            [run_id])) == ["OP-002", "OP-003"]
        assert app.current_mode == "sync"
        label = str(app.screen.query_one("#sy-label").render())
        assert f"{done} done" in label
        linked = db.scalar("SELECT count(*) FROM links")
        assert linked > 0
        # the mailbox really holds the contacts now
        op, mailbox = db.rows("SELECT operator_id, mailbox_address FROM mailbox_state "
                                     "WHERE last_success_at IS NOT NULL ORDER BY 1 LIMIT 1")[0]
        in_store = db.scalar("SELECT count(*) FROM links WHERE operator_id = ?", [op])
        assert len(env.sandbox.mailbox(mailbox).contacts) >= in_store
        # back on Preview: the applied plan cannot be applied again, and the screen says so
        await pilot.press("4")
        await settle(pilot)
        assert pv.plan.lifecycle.state == "applied" and pv.plan.lifecycle.run_id == run_id
        assert app.screen.check_action("apply", ()) is None
        assert f"applied in run {run_id}" in str(app.screen.query_one("#pv-status").render())
        await pilot.press("a")
        await settle(pilot)
        assert not isinstance(app.screen, Confirm)
        assert db.scalar("SELECT count(*) FROM sync_runs") == 1


@aio
async def test_cancel_a_running_sync(exchange_env):
    from workbench.store.settings_table import update
    env = exchange_env
    update(env.store, {"batch_size": "2", "max_concurrent_mailboxes": "1"}, source="test")
    env.sandbox.faults.set(latency_ms=60)
    app = _app(env)
    db = app.store       # the app's threads and this test share the store the way the app does
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("5")
        await settle(pilot)
        await pilot.press("r")                                   # asks first, naming the writes
        await until(pilot, lambda: isinstance(app.screen, Confirm))
        assert "write(s) in" in app.screen.question and "mailbox(es)" in app.screen.question
        await pilot.press("y")
        await until(pilot, lambda: (db.scalar(
            "SELECT count(*) FROM sync_log l JOIN sync_runs r USING (run_id) WHERE r.trigger = 'dashboard' "
            "AND l.outcome = 'ok' AND l.action LIKE 'create-%'") or 0) > 0)
        assert app.screen.running
        await pilot.press("c")
        await until(pilot, lambda: not app.screen.running)
        await settle(pilot)
        env.sandbox.faults.clear()
        status, planned, done = db.rows(
            "SELECT status, planned, done FROM sync_runs WHERE trigger = 'dashboard'")[0]
        assert status == "cancelled" and 0 < done < planned
        codes = {r[0] for r in db.rows("SELECT code FROM sync_log WHERE code IS NOT NULL")}
        assert "SYNC_CANCELLED" in codes
        assert "cancelled" in str(app.screen.query_one("#sy-label").render())
        assert db.scalar("SELECT count(*) FROM notifications WHERE code = 'SYNC_CANCELLED'") == 0
        # a person's cancel is not a failure: not in "Needs attention", counted on its own line
        await pilot.press("1")
        await settle(pilot)
        attention = shown(app.screen.query_one("#ov-attention"))
        assert "SYNC_CANCELLED" not in attention and "cancelled by a person" in attention


@aio
async def test_verify_all_operators(exchange_env):
    env = exchange_env
    app = _app(env)
    db = app.store       # the app's threads and this test share the store the way the app does
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("V")
        await until(pilot, lambda: db.scalar("SELECT count(*) FROM operator_checks") > 0
                     and not any(w.is_running for w in app.workers))
        await settle(pilot)
        enabled = db.scalar("SELECT count(*) FROM operators WHERE contact_sync")
        assert db.scalar("SELECT count(DISTINCT operator_id) FROM operator_checks") == enabled
        statuses = [str(app.screen.query_one("#ops-table").table.get_row_at(i)[5])
                    for i in range(app.screen.query_one("#ops-table").table.row_count)]
        assert any(s == "ok" for s in statuses)


@aio
async def test_run_sync_asks_first_and_no_writes_without_a_yes(exchange_env):
    env = exchange_env
    app = _app(env)
    db = app.store
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("5")
        await settle(pilot)
        mark = len(env.sandbox.requests)
        sync_screen = app.screen
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, Confirm))
        question = app.screen.question
        enabled = db.scalar("SELECT count(*) FROM operators WHERE contact_sync")     # the planning said how far it was
        await until(pilot, lambda: f"planning: {enabled}/{enabled} mailboxes done" in str(
            sync_screen.query_one("#sy-label").render()))
        writes = int(question.split("\n\n")[1].split(" write(s)")[0])
        assert writes > 0 and "OP-002" in question                # the unreadable mailboxes are named
        await pilot.press("n")
        await settle(pilot)
        assert db.scalar("SELECT count(*) FROM sync_runs WHERE NOT dry_run") == 0
        from tests.sync.conftest import writes_since
        assert writes_since(env.sandbox, mark) == []              # the planning snapshot wrote nothing
