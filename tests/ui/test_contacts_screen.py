"""The Contacts screen (search, paged results, a contact's story) and undo from a run: Pilot tests and
snapshots over the fixed journal store plus one contact's history written as the engine books it."""
from __future__ import annotations

from datetime import timedelta

import pytest
from ui_fixtures import FROZEN, aio, settle

from workbench.store import sync_tables as st
from workbench.sync.ledger import Booked, record
from workbench.ui.screens.contact_detail import ContactDetailScreen
from workbench.ui.widgets.confirm import Confirm
from workbench.ui.widgets.paged_table import PagedTable

SIZE = (120, 40)
CID, OP, GONE_OP = "CRM-000002", "OP-008", "OP-015"


@pytest.fixture
def story(store):
    """CRM-000002: its OP-008 item edited in Outlook (job title), a conflict crm-wins overwrote before, and
    run 3 deleted it from OP-015's mailbox (team removal) into Deleted Items."""
    crm = store.df("SELECT * FROM contacts WHERE contact_id = ?", [CID]).iloc[0]
    item = {"item_id": "SBXI-item-8", "change_key": "CK-2", "crm_id": CID, "categories": ["PegaSASync"],
            "private": False, **{f: crm[f] for f in ("given_name", "surname", "email", "business_phone", "company",
                                                      "street", "city", "postal_code", "country")},
            "job_title": "Buyer (edited in Outlook)"}
    t2, t3 = FROZEN - timedelta(minutes=110), FROZEN - timedelta(minutes=20)
    with store.write() as con:
        con.execute("DELETE FROM contact_team WHERE contact_id = ? AND operator_id = ?", [CID, GONE_OP])
        st.apply_snapshot_changes(con, OP, [item])
        st.upsert_links(con, [{"operator_id": OP, "contact_id": CID, "item_id": "SBXI-item-8", "change_key": "CK-1",
                               "crm_hash": "h", "exchange_hash": "h"}])
        first = con.execute("SELECT max(log_id) + 1 FROM sync_log").fetchone()[0]   # the fixture set log_ids itself
        for n, (run, when, op, item, action, detail) in enumerate((
                (2, t2, OP, "SBXI-item-8", "update-exchange", "conflict; fields: job_title"),
                (3, t3, GONE_OP, "SBXI-item-15", "delete-exchange", "operator left the contact's team"))):
            con.execute("INSERT INTO sync_log (log_id, run_id, logged_at, operator_id, contact_id, item_id, action, "
                        "outcome, detail) VALUES (?, ?, ?, ?, ?, ?, ?, 'ok', ?)",
                        [first + n, run, when, op, CID, item, action, detail])
        record(con, 2, Booked(changes=[(None, t2, OP, CID, "SBXI-item-8", "update-exchange", "job_title",
                                        crm["job_title"], "Head buyer", "Head buyer", crm["job_title"], "crm", True)]))
        record(con, 3, Booked(deletes=[(None, t3, GONE_OP, CID, "SBXI-item-15", "delete-exchange",
                                        "operator left the contact's team", "deleted-items", ["PegaSASync"], False,
                                        *(crm[f] for f in ("given_name", "surname", "email", "business_phone",
                                                           "mobile_phone", "home_phone", "company", "job_title",
                                                           "street", "city", "state", "postal_code", "country")))]))
    return crm


def _keys(paged: PagedTable) -> list[str]:
    table = paged.table
    return [table.coordinate_to_cell_key((i, 0)).row_key.value for i in range(table.row_count)]


@aio
async def test_search_pages_and_refuses_a_bad_text(make_app, store):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("7")
        await settle(pilot)
        paged = app.screen.query_one("#ct-table", PagedTable)
        assert paged.total == store.scalar("SELECT count(*) FROM contacts WHERE deleted_at IS NULL")
        await pilot.press(*"MULLER")                         # the search box has the focus
        await settle(pilot)
        assert all("muller" in str(paged.table.get_row_at(i)).lower().replace("ü", "u")
                   for i in range(paged.table.row_count)) and paged.total > 0
        app.screen.query_one("#ct-search").value = "müller & SÖHNE"
        await settle(pilot)
        expected = store.scalar("SELECT count(*) FROM contacts WHERE strip_accents(lower(company)) "
                                "LIKE '%muller & sohne%'")
        assert 0 < paged.total and paged.total >= expected
        assert all("company" in str(paged.table.get_row_at(i)[-1]) for i in range(paged.table.row_count))
        app.screen.query_one("#ct-search").value = "x" * 201
        await settle(pilot)
        assert "CONTACT_QUERY_INVALID" in str(app.screen.query_one("#ct-status").render())
        assert paged.total >= expected                        # the last good result stays


@aio
async def test_enter_opens_the_story_and_escape_goes_back(make_app, story):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("7")
        await settle(pilot)
        await pilot.press(*CID.lower(), "enter")             # search, then to the table
        await settle(pilot)
        assert _keys(app.screen.query_one("#ct-table", PagedTable))[0] == CID
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ContactDetailScreen)
        fields = app.screen.query_one("#cd-fields")
        row = [str(c) for c in fields.get_row("job_title")]
        assert row[0] == "job_title" and row[2] == "≠ Buyer (edited in Outlook)" and row[1] == story["job_title"]
        journal = app.screen.query_one("#cd-journal")
        steps = [(str(journal.get_row_at(i)[1]), str(journal.get_row_at(i)[3]), str(journal.get_row_at(i)[4]))
                 for i in range(journal.row_count)]
        assert steps.index(("2", OP, "update-exchange")) < steps.index(("3", GONE_OP, "delete-exchange"))
        journal.move_cursor(row=steps.index(("2", OP, "update-exchange")))
        await settle(pilot)
        entry = str(app.screen.query_one("#cd-entry").render())
        assert f"job_title: 'Head buyer' → '{story['job_title']}'" in entry
        text = str(app.screen.query_one("#cd-next").render())
        assert f"run 3: delete-exchange in {GONE_OP} → deleted-items" in text and "sync undo 3" in text
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen.query_one("#ct-table", PagedTable)


@aio
async def test_undo_from_a_run_asks_with_the_counts_and_no_changes_nothing(make_app, story, store):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        await settle(pilot)
        await pilot.press("u")                               # first u: shows the Runs tab
        await settle(pilot)
        await pilot.press("u")                               # latest run (3) selected
        await settle(pilot)
        assert isinstance(app.screen, Confirm)
        assert "Restore the 1 contact(s) in 1 mailbox(es) that run 3 deleted?" in app.screen.question
        await pilot.press("n")
        await settle(pilot)
        assert not isinstance(app.screen, Confirm)
        assert store.scalar("SELECT count(*) FROM delete_ledger WHERE restored_at IS NULL") == 1


def _contacts(*keys):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("7")
        await settle(pilot)
        if keys:
            await pilot.press(*keys)
        await settle(pilot)
    return run_before


def test_contacts_search_snapshot(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=_contacts(*"jose"))


def test_contact_detail_snapshot(snap_compare, make_app, story):
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=_contacts(*CID, "enter", "enter"))


@aio
async def test_undo_confirmed_in_the_dashboard_restores_into_the_sandbox_mailbox(make_app, exchange_env):
    """The same confirmation, answered yes, against the sandbox: the item is back in Contacts, once."""
    from tests.sync.conftest import mailbox_of
    from workbench.exchange.mapping import CRM_ID_PROPERTY_NAME
    from workbench.sync.engine import run_sync
    env = exchange_env
    op = "OP-004"
    run_sync(env.store, [op])
    cid = env.store.scalar("SELECT contact_id FROM links WHERE operator_id = ? ORDER BY contact_id LIMIT 1", [op])
    with env.store.write() as con:
        con.execute("DELETE FROM contact_team WHERE contact_id = ? AND operator_id = ?", [cid, op])
    removal = run_sync(env.store, [op])
    address = mailbox_of(env.store, op)

    def in_contacts() -> int:
        return sum(1 for d in env.sandbox.mailbox(address).contacts
                   if d.get("extended_properties", {}).get(CRM_ID_PROPERTY_NAME) == cid)
    assert in_contacts() == 0
    app = make_app(store=env.store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6", "u")
        await settle(pilot)
        paged = app.screen.query_one("#runs-table", PagedTable)
        assert paged.selected_key == str(removal.run_id)
        await pilot.press("u")
        await settle(pilot)
        assert "Restore the 1 contact(s) in 1 mailbox(es)" in app.screen.question
        await pilot.press("y")
        await settle(pilot)
    assert in_contacts() == 1
    assert env.store.scalar("SELECT restored_how FROM delete_ledger WHERE run_id = ?", [removal.run_id]) \
        == "moved-from-deleted-items"
