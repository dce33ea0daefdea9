"""Log: the journal (sync_log) with filters, failure detail from the catalogue, runs, notifications."""
from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Checkbox, DataTable, Input, Static, TabbedContent, TabPane

from workbench.readmodels.catalogue import remedy_lines
from workbench.readmodels.journal import (JournalFilter, journal_entry, journal_source, notifications_source,
                                          runs_source)
from workbench.ui.data import cell
from workbench.ui.screens.base import WorkbenchScreen
from workbench.ui.widgets.paged_table import PagedTable


class LogScreen(WorkbenchScreen):
    SUB_TITLE = "Log"
    BINDINGS = [
        Binding("f", "failed_only", "Failed only"),
        Binding("slash", "focus_filter", "Filter"),
        Binding("x", "clear_filters", "Clear filters"),
        Binding("u", "undo_run", "Undo run's deletes", show=False),   # Runs tab; in help and the palette
        Binding("escape", "focus_table", "Table", show=False),
    ]

    @dataclass
    class Detail(Message):
        entry: dict | None

    def __init__(self) -> None:
        super().__init__()
        self.filter = JournalFilter()

    def compose_body(self) -> ComposeResult:
        with TabbedContent(id="log-tabs"):
            with TabPane("Journal", id="tab-journal"):
                with Horizontal(id="log-filters"):
                    yield Input(placeholder="run id", id="log-run", type="integer")
                    yield Input(placeholder="operator id", id="log-operator")
                    yield Checkbox("failed only (f)", id="log-failed")
                yield PagedTable(journal_source(self.filter), id="log-table", page_size=200)
                with VerticalScroll(id="log-detail-box"):       # the whole cause and remedy, wrapped, scrollable
                    yield Static("", id="log-detail")
            with TabPane("Runs", id="tab-runs"):
                yield PagedTable(runs_source(), id="runs-table")
            with TabPane("Notifications", id="tab-notifications"):
                yield PagedTable(notifications_source(), id="notes-table")

    def on_mount(self) -> None:
        self.query_one("#log-detail-box").border_title = "Entry"
        self.query_one("#log-table", PagedTable).focus_table()

    def refresh_data(self) -> None:
        for table in self.query(PagedTable):
            table.reload()

    @property
    def journal(self) -> PagedTable:
        return self.query_one("#log-table", PagedTable)

    def _apply(self, **changes) -> None:
        self.filter = JournalFilter(**{**self.filter.__dict__, **changes})
        self.journal.set_source(journal_source(self.filter))

    @on(Input.Changed, "#log-run")
    def run_changed(self, event: Input.Changed) -> None:
        text = event.value.strip()
        self._apply(run_id=int(text) if text.lstrip("-").isdigit() else None)

    @on(Input.Changed, "#log-operator")
    def operator_changed(self, event: Input.Changed) -> None:
        self._apply(operator_id=event.value.strip())

    @on(Input.Submitted)
    def filter_done(self) -> None:
        self.journal.focus_table()

    @on(Checkbox.Changed, "#log-failed")
    def failed_changed(self, event: Checkbox.Changed) -> None:
        self._apply(failed_only=event.value)

    def action_failed_only(self) -> None:
        self.query_one("#log-tabs", TabbedContent).active = "tab-journal"
        box = self.query_one("#log-failed", Checkbox)
        box.value = not box.value

    def action_focus_filter(self) -> None:
        self.query_one("#log-tabs", TabbedContent).active = "tab-journal"
        self.query_one("#log-run", Input).focus()

    def action_focus_table(self) -> None:
        self.journal.focus_table()

    def action_clear_filters(self) -> None:
        with self.prevent(Input.Changed, Checkbox.Changed):
            self.query_one("#log-run", Input).value = ""
            self.query_one("#log-operator", Input).value = ""
            self.query_one("#log-failed", Checkbox).value = False
        self.filter = JournalFilter()
        self.journal.set_source(journal_source(self.filter))

    def action_undo_run(self) -> None:
        """Undo the deletes of the run selected in the Runs tab (after a confirmation)."""
        from workbench.ui.widgets.undo import ask_and_undo
        tabs = self.query_one("#log-tabs", TabbedContent)
        key = self.query_one("#runs-table", PagedTable).selected_key
        if tabs.active != "tab-runs" or key is None:
            tabs.active = "tab-runs"
            self.notify("select the run in the Runs tab, then press u")
            return
        ask_and_undo(self, int(key), done=self.refresh_data)

    def show_run(self, run_id: int) -> None:
        """Open the journal filtered to one run (from the Sync screen)."""
        self.query_one("#log-run", Input).value = str(run_id)

    # --- detail -------------------------------------------------------------------
    @on(DataTable.RowHighlighted, "#log-table DataTable")
    def highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value is not None:
            self.load_detail(int(event.row_key.value))

    @on(PagedTable.Refreshed, "#log-table")
    def journal_refreshed(self, event: PagedTable.Refreshed) -> None:
        if event.table.total == 0:
            self.query_one("#log-detail", Static).update(Text("no journal entry matches the filters",
                                                              style="dim"))
        elif event.table.selected_key is not None:
            self.load_detail(int(event.table.selected_key))

    @work(thread=True, exclusive=True, exit_on_error=False, group="detail")
    def load_detail(self, log_id: int) -> None:
        self.post_message(self.Detail(journal_entry(self.store, log_id)))

    @on(Detail)
    def show_detail(self, event: Detail) -> None:
        e = event.entry
        text = Text()
        if e is None:
            self.query_one("#log-detail", Static).update(text)
            return
        text.append(f"#{e['log_id']} run {cell(e['run_id'])} · {cell(e['logged_at'])} · "
                    f"{e['action']} → {e['outcome']}", style="bold")
        who = " ".join(x for x in (e.get("operator_id") or "", e.get("contact_id") or "") if x)
        if who:
            text.append(f" · {who}")
        if e.get("batch_no") is not None:
            text.append(f" · batch {e['batch_no']} ({cell(e.get('items'))} items, {cell(e.get('seconds'))} s)")
        if e.get("detail"):
            text.append(f"\n{e['detail']}")
        if e.get("code"):
            title, cause, remedy = remedy_lines(e["code"])
            text.append(f"\n{e['code']}: {title}", style="bold red")
            text.append(f"\ncause: {cause}\nremedy: {remedy}")
        self.query_one("#log-detail", Static).update(text)
