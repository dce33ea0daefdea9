"""Pilot tests: each dashboard workflow driven by keys, outcomes checked in the store."""
from __future__ import annotations

from ui_fixtures import aio, settle, shown, until

from workbench.store.settings_table import stored_values
from workbench.ui.widgets.import_review import ImportReviewScreen
from workbench.ui.widgets.paged_table import PagedTable
from workbench.ui.widgets.password import PasswordScreen


def _rows(paged: PagedTable) -> list[list[str]]:
    table = paged.table
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


@aio
async def test_overview_shows_health(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        ops = str(app.screen.query_one("#ov-operators").render())
        assert "24 total" in ops and "3 ✗ verify failing" in ops
        attention = shown(app.screen.query_one("#ov-attention"))
        assert "EWS_MAILBOX_NOT_FOUND" in attention and "cause:" in attention and "remedy:" in attention
        assert "store workbench.duckdb" in app.screen.sub_title


@aio
async def test_toggle_operator(make_app, store):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        await settle(pilot)
        paged = app.screen.query_one("#ops-table", PagedTable)
        assert paged.selected_key == "OP-001"
        assert _rows(paged)[0][3] == "yes"
        await pilot.press("space")
        await settle(pilot)
        assert store.scalar("SELECT contact_sync FROM operators WHERE operator_id = 'OP-001'") is False
        assert store.scalar("SELECT source FROM operators WHERE operator_id = 'OP-001'") == "dashboard"
        assert _rows(paged)[0][3] == "no"
        await pilot.press("space")
        await settle(pilot)
        assert store.scalar("SELECT contact_sync FROM operators WHERE operator_id = 'OP-001'") is True


@aio
async def test_operator_filter_and_sort(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("slash", *"lukasz")
        await settle(pilot)
        paged = app.screen.query_one("#ops-table", PagedTable)
        assert [r[0] for r in _rows(paged)] == ["OP-003"]
        await pilot.press("escape")
        app.screen.query_one("#ops-filter").value = ""
        await settle(pilot)
        await pilot.press("s", "s", "s")          # id -> sync -> email -> status
        await settle(pilot)
        assert app.screen.filter.sort == "status"
        shown = [r[5] for r in _rows(paged)]
        assert shown == sorted(shown) and shown[0].startswith("impersonation-denied")   # sorted as shown


@aio
async def test_import_csv_with_bad_row_shows_review(make_app, store, tmp_path):
    csv = tmp_path / "new_operators.csv"
    csv.write_text("operator_id,name,email,contact_sync\n"
                   "OP-100,Ada Lovelace,ada.lovelace@example.com,true\n"
                   "OP-101,Bad Mail,not-an-email,true\n"
                   "OP-004,Mei Demir,mei.demir4@example.com,false\n", encoding="utf-8")
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        app.screen.query_one("#import-path").value = str(csv)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ImportReviewScreen)
        review = app.screen.review
        assert (review.processed, review.added, review.updated, review.failed) == (3, 1, 1, 1)
        errors = app.screen.query_one("#review-errors")
        assert errors.row_count == 1
        line, column, value, _reason = [str(c) for c in errors.get_row_at(0)]
        assert (line, column, value) == ("3", "email", "not-an-email")
        # the review step wrote nothing
        assert store.scalar("SELECT count(*) FROM operators WHERE operator_id = 'OP-100'") == 0
        await pilot.press("c")          # commit is refused while rows fail
        await settle(pilot)
        assert isinstance(app.screen, ImportReviewScreen)
        await pilot.press("k")          # commit the valid rows only
        await settle(pilot)
        assert not isinstance(app.screen, ImportReviewScreen)
        assert store.scalar("SELECT count(*) FROM operators WHERE operator_id = 'OP-100'") == 1, [n.message for n in app._notifications]
        assert store.scalar("SELECT count(*) FROM operators WHERE operator_id = 'OP-101'") == 0
        assert store.scalar("SELECT contact_sync FROM operators WHERE operator_id = 'OP-004'") is False


@aio
async def test_import_cancel_writes_nothing(make_app, store, tmp_path):
    csv = tmp_path / "ops.csv"
    csv.write_text("operator_id,name,email,contact_sync\nOP-200,New One,new.one@example.com,true\n")
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("i")
        app.screen.query_one("#import-path").value = str(csv)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ImportReviewScreen)
        await pilot.press("n")
        await settle(pilot)
        assert store.scalar("SELECT count(*) FROM operators WHERE operator_id = 'OP-200'") == 0


@aio
async def test_filter_the_log(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("6")
        await settle(pilot)
        journal = app.screen.query_one("#log-table", PagedTable)
        assert journal.total == 257
        await pilot.press("f")
        await settle(pilot)
        assert journal.total == 3
        assert {r[6] for r in _rows(journal)} == {"failed"}
        detail = str(app.screen.query_one("#log-detail").render())
        assert "remedy:" in detail
        app.screen.query_one("#log-operator").value = "OP-005"
        await settle(pilot)
        assert [r[7] for r in _rows(journal)] == ["CRM_VALIDATION"]
        detail = str(app.screen.query_one("#log-detail").render())
        assert "CRM rejected a contact" in detail and "Fix the contact in Outlook" in detail
        await pilot.press("escape", "x")
        await settle(pilot)
        assert journal.total == 257
        app.screen.query_one("#log-run").value = "2"
        await settle(pilot)
        assert journal.total == 121


@aio
async def test_journal_pages(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("6")
        await settle(pilot)
        journal = app.screen.query_one("#log-table", PagedTable)
        assert (journal.page_offset, journal.table.row_count) == (0, 200)
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert (journal.page_offset, journal.table.row_count) == (200, 57)
        assert _rows(journal)[-1][0] == "1"


@aio
async def test_fix_a_setting_after_validation_error(make_app, store):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        await settle(pilot)
        screen = app.screen
        batch = screen.query_one("#in-batch_size")
        recipients = screen.query_one("#in-failure_recipients")
        batch.value = "9999"
        recipients.value = "ops@example.com;oops"
        await until(pilot, lambda: screen.query_one("#field-batch_size").has_class("invalid"))
        assert "1..512" in str(screen.query_one("#rule-batch_size").render())
        await pilot.press("ctrl+s")
        await settle(pilot)
        # all or nothing: neither field was written
        values = stored_values(store)
        assert values["batch_size"] == "512"
        assert values["failure_recipients"] == "ops@example.com;crm-admins@example.com"
        assert screen.query_one("#field-failure_recipients").has_class("invalid")
        assert app.focused is batch
        batch.value = "256"
        recipients.value = "ops@example.com"
        await until(pilot, lambda: not screen.query_one("#field-batch_size").has_class("invalid"))
        await pilot.press("escape", "ctrl+s")          # leave the field; the save asks first
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        values = stored_values(store)
        assert (values["batch_size"], values["failure_recipients"]) == ("256", "ops@example.com")
        assert store.scalar("SELECT count(*) FROM settings_changes WHERE source = 'dashboard'") == 2


@aio
async def test_help_and_palette(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        await until(pilot, lambda: type(app.screen).__name__ == "HelpScreen")
        await pilot.press("escape")
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Go to Operators" in titles and "Import operators CSV" in titles


@aio
async def test_store_error_becomes_toast(make_app, tmp_path):
    bad = tmp_path / "not-a-db.duckdb"
    bad.write_text("this is not a database")
    from workbench.store import Store
    app = make_app(store=Store(bad))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        messages = [n.message for n in app._notifications]
        assert any(m.startswith("STORE_CORRUPT: Store file damaged — ") for m in messages)


# --- settings editing safety (issue 16) ------------------------------------------------------------

@aio
async def test_keys_typed_in_a_burst_reach_the_screen_they_were_typed_for(make_app):
    """As a terminal delivers fast typing: every key queued before the app handles the first (Pilot's press
    waits between keys). A screen key's screen comes up before the keys after it are handled; a digit typed
    into a text field stays a digit; a key that moves the focus (Esc, /) moves it before the next key."""
    from textual import events
    from textual.widgets import Input
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        chars = {"escape": None, "slash": "/"}
        for burst, mode, field, value in ((list("5632"), "settings", None, None),
                                          (list("7jose"), "contacts", "#ct-search", "jose"),
                                          (list("3"), "contacts", "#ct-search", "jose3"),   # the search has the focus
                                          (["escape", "3"], "operators", None, None),       # Esc left the search
                                          (["7", "slash", "x"], "contacts", "#ct-search", "x")):  # / selects it
            for key in burst:
                app.post_message(events.Key(key, chars.get(key, key)))
            await until(pilot, lambda: app.current_mode == mode and app._held is None)
            await settle(pilot)
            assert app.current_mode == mode, burst
            if field:
                assert app.screen.query_one(field, Input).value == value, burst


@aio
async def test_a_screen_key_never_reaches_a_settings_field(make_app, store):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        await settle(pilot)
        screen = app.screen
        batch = screen.query_one("#in-batch_size")
        assert batch.disabled and not screen.editing                 # read-only until an explicit edit
        await pilot.press("ctrl+t")                                   # the keystore panel asks for its password
        await until(pilot, lambda: isinstance(app.screen, PasswordScreen))
        await pilot.press("escape")                                   # cancel the prompt, then leave the panel
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen and not isinstance(app.focused, type(batch))
        await pilot.press("9", "8", "0")                              # keys with no binding go nowhere
        await pilot.press("e")                                        # edit: the first field has focus
        await settle(pilot)
        assert screen.editing and not batch.disabled
        await pilot.press("escape")                                   # esc always leaves the field
        await settle(pilot)
        assert not screen.editing and batch.disabled
        for key, mode in zip("5632", ("sync", "log", "operators", "settings")):   # screen keys switch screens
            await pilot.press(key)
            await settle(pilot)
            assert app.current_mode == mode, (key, app.current_mode)
        assert app.screen is screen
        assert batch.value == "512" and stored_values(store)["batch_size"] == "512"
        assert screen.changes() == {}


@aio
async def test_a_settings_save_shows_old_and_new_and_asks(make_app, store):
    from workbench.ui.widgets.confirm import Confirm
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        await settle(pilot)
        screen = app.screen
        await pilot.press("e")
        await settle(pilot)
        await pilot.press(*["tab"] * 5)                               # contact_integration … batch_size
        assert app.focused is screen.query_one("#in-batch_size")
        await pilot.press("end", "backspace", "backspace", "backspace", "3", "escape")
        await settle(pilot)
        assert screen.query_one("#field-batch_size").has_class("changed")
        assert "stored: 512" in str(screen.query_one("#rule-batch_size").render())
        await pilot.press("3", "2")                                   # navigation neither saves nor loses it
        await settle(pilot)
        assert screen.query_one("#in-batch_size").value == "3" and stored_values(store)["batch_size"] == "512"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, Confirm) and "batch_size: 512 → 3" in app.screen.question
        await pilot.press("n")                                        # no: nothing saved, still marked
        await settle(pilot)
        assert stored_values(store)["batch_size"] == "512" and screen.changes() == {"batch_size": "3"}
        await pilot.press("ctrl+s")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert stored_values(store)["batch_size"] == "3"
        assert store.rows("SELECT key, old_value, new_value FROM settings_changes WHERE source = 'dashboard'") == [
            ("batch_size", "512", "3")]


@aio
async def test_the_sync_screen_reads_the_store_only_while_it_is_shown(make_app, monkeypatch):
    from workbench.ui.screens import sync
    reads = []
    real = sync.live_run
    monkeypatch.setattr(sync, "live_run", lambda *a, **k: reads.append(1) or real(*a, **k))
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("5")
        await until(pilot, lambda: reads)                # shown: it loads the latest run (and polls each second)
        await pilot.press("1")
        await settle(pilot)
        left = len(reads)
        await pilot.pause(2.5)                            # two and a half poll intervals on the Overview
        assert len(reads) == left
        await pilot.press("5")                            # back: reloaded at once
        await until(pilot, lambda: len(reads) > left)
