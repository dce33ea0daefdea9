"""Snapshot tests: every screen at 120x40 (the main ones also at 80x24) with frozen time and the fixed journal store.

Accept changes with `pytest tests/ui/test_snapshots.py --snapshot-update` after looking at them.
"""
from __future__ import annotations

from ui_fixtures import settle

SIZE = (120, 40)


def _go(*keys):
    async def run_before(pilot):
        await settle(pilot)
        if keys:
            await pilot.press(*keys)
        await settle(pilot)
    return run_before


def test_overview(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=_go())


def test_settings(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=_go("2"))


def test_settings_validation_error(snap_compare, make_app):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        pilot.app.screen.query_one("#in-batch_size").value = "9999"
        pilot.app.screen.query_one("#in-failure_recipients").value = "ops@example.com;oops"
        await pilot.press("ctrl+s")
        await settle(pilot)
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_operators(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=_go("3"))


def test_operators_import_review(snap_compare, make_app, tmp_path):
    csv = tmp_path / "new_operators.csv"
    csv.write_text("operator_id,name,email,contact_sync\n"
                   "OP-100,Ada Lovelace,ada.lovelace@example.com,true\n"
                   "OP-101,Bad Mail,not-an-email,true\n"
                   "OP-004,Mei Demir,mei.demir4@example.com,false\n", encoding="utf-8")

    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        pilot.app.screen.query_one("#import-path").value = str(csv)
        await pilot.press("enter")
        await settle(pilot)
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_operators_move_review(snap_compare, make_app):
    """The move's dry-run review (the sandbox run is tests/ui/test_operators_move.py): fixed counts, two ids gone."""
    from workbench.operators.move import MoveResult
    dry = MoveResult("OP-004", "mei.demir4@example.com", "ews", "graph", translated=21,
                     missing=["AAMkAGI2TG93AAA=", "AAMkAGI2TG94AAA="])

    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        pilot.app.screen.post_message(pilot.app.screen.MovePlanned(["OP-004"], "graph", [dry]))
        await settle(pilot)
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_operators_move_review_many(snap_compare, make_app):
    """Several marked operators' dry run (tests/ui/test_operators_move_many.py drives it against the sandbox): one
    would move, one is already there, one mailbox refused; the summary under the list."""
    from workbench.operators.move import MoveResult
    dry = [MoveResult("OP-004", "mei.demir4@example.com", "ews", "graph", translated=21),
           MoveResult("OP-005", "oluwaseun.adeyemi5@example.com", "graph", "graph"),
           MoveResult("OP-006", "soren.tanaka6@example.com", "ews", "graph", code="GRAPH_SCOPE_DENIED",
                      detail="mailbox soren.tanaka6@example.com: HTTP 403 ErrorAccessDenied")]

    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        pilot.app.screen.post_message(pilot.app.screen.MovePlanned(["OP-004", "OP-005", "OP-006"], "graph", dry))
        await settle(pilot)
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_log_failed_only(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=_go("6", "f"))


def test_log_notifications(snap_compare, make_app):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("6")
        await settle(pilot)
        pilot.app.screen.query_one("#log-tabs").active = "tab-notifications"
        await settle(pilot)
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_help(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=_go("question_mark"))


def test_preview_before_a_plan(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=_go("4"))


def test_sync_last_run(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=_go("5"))


def test_settings_keystore(snap_compare, make_app, fixed_keystore):
    """Settings → ctrl+t with the committed certificates: one expiring in 18 days, one expired for another host."""
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=_go("2", "ctrl+t"))


# --- the same screens at 80x24 (issue 16: the layout holds on a small terminal) --------------------
SMALL = (80, 24)


def test_overview_80x24(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=SMALL, run_before=_go())


def test_settings_80x24(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=SMALL, run_before=_go("2"))


def test_log_failed_only_80x24(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=SMALL, run_before=_go("6", "f"))


def test_preview_before_a_plan_80x24(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=SMALL, run_before=_go("4"))


def test_sync_last_run_80x24(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=SMALL, run_before=_go("5"))
