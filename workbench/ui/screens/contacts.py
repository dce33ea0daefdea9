"""Contacts: search by any key (name, e-mail, company, phone, CRM id, Exchange item id), paged results;
enter opens the contact's story (ContactDetailScreen)."""
from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Input, Static

from workbench.errors import WorkbenchError
from workbench.ui.contacts_data import contacts_source
from workbench.ui.data import error_headline
from workbench.ui.screens.base import WorkbenchScreen
from workbench.ui.screens.contact_detail import ContactDetailScreen
from workbench.ui.widgets.paged_table import PagedTable


class ContactsScreen(WorkbenchScreen):
    SUB_TITLE = "Contacts"
    BINDINGS = [
        Binding("slash", "focus_search", "Search"),
        Binding("escape", "focus_table", "Table", show=False),
    ]

    def compose_body(self) -> ComposeResult:
        yield Input(placeholder="search: name, e-mail, company, phone, CRM id or Exchange item id "
                                "(case and accents ignored)", id="ct-search")
        yield Static("all contacts · / search · enter opens a contact", id="ct-status", markup=False)
        yield PagedTable(contacts_source(""), id="ct-table", page_size=100)

    def on_mount(self) -> None:
        self.query_one("#ct-search", Input).focus()

    def refresh_data(self) -> None:
        self.query_one("#ct-table", PagedTable).reload()

    @on(Input.Changed, "#ct-search")
    def search_changed(self, event: Input.Changed) -> None:
        status = self.query_one("#ct-status", Static)
        try:
            source = contacts_source(event.value)
        except WorkbenchError as err:
            status.update(f"{error_headline(err)}\n{err.detail}")
            return
        status.update(f"contacts matching {event.value.strip()!r}" if event.value.strip() else "all contacts")
        self.query_one("#ct-table", PagedTable).set_source(source)

    @on(Input.Submitted, "#ct-search")
    def search_done(self) -> None:
        self.action_focus_table()

    @on(DataTable.RowSelected, "#ct-table DataTable")
    def open_contact(self, event: DataTable.RowSelected) -> None:
        if event.row_key is not None and event.row_key.value is not None:
            self.app.push_screen(ContactDetailScreen(str(event.row_key.value)))

    def action_focus_search(self) -> None:
        self.query_one("#ct-search", Input).focus()

    def action_focus_table(self) -> None:
        self.query_one("#ct-table", PagedTable).focus_table()
