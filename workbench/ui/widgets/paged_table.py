"""A DataTable that shows one page of a DuckDB query at a time.

The table never holds more than ``page_size`` rows: a worker thread fetches
the page (LIMIT/OFFSET plus a count) and posts it back; the UI thread fills
the DataTable. ``[`` / ``]`` move a page, ``home`` / ``end`` with ctrl jump to
the first / last page. Rows keep their stable key (the query's first column).
Rows can be marked (``toggle_mark``) for an action on several at once; marks are kept across pages, filters
and reloads, and shown as ``MARK`` before the first cell.
Enter pressed while a load is under way opens a row of the page asked for, once it is shown, never a row of
the page it replaces (typing a search and enter at once opened the first contact of the unfiltered list).
"""
from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from workbench.readmodels.paging import Page, PageSource
from workbench.ui.data import cell, fit

MARK = "● "


class PagedTable(Vertical, can_focus=False):
    DEFAULT_CSS = """
    PagedTable { height: 1fr; }
    PagedTable > DataTable { height: 1fr; }
    PagedTable > .pager { height: 1; color: $text-muted; padding: 0 1; }
    """
    BINDINGS = [
        Binding("right_square_bracket", "page(1)", "Next page", show=False),
        Binding("left_square_bracket", "page(-1)", "Prev page", show=False),
        Binding("ctrl+home", "first_page", "First page", show=False),
        Binding("ctrl+end", "last_page", "Last page", show=False),
    ]

    @dataclass
    class Loaded(Message):
        table: "PagedTable"
        page: Page
        request: int = 0               # which load() asked for it: only the latest one is shown

        @property
        def control(self) -> "PagedTable":
            return self.table

    def __init__(self, source: PageSource | None = None, *, page_size: int = 100,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.source = source
        self.page_size = page_size
        self.page_offset = 0
        self.total = 0
        self.loaded = False
        self._requests = 0                      # load() calls so far; a page shows only for the latest
        self._select_when_loaded = False        # enter came while a load was under way
        self.marked: set[str] = set()           # keys of marked rows
        self._first: dict[str, str] = {}        # key -> the shown page's first cell, unmarked

    def compose(self) -> ComposeResult:
        table = DataTable(cursor_type="row", zebra_stripes=True)
        yield table
        yield Static("", classes="pager")

    @property
    def table(self) -> DataTable:
        return self.query_one(DataTable)

    def on_mount(self) -> None:
        if self.source is not None:
            self._set_columns()

    def _set_columns(self) -> None:
        table = self.table
        table.clear(columns=True)
        for col in self.source.columns:
            table.add_column(col.label, key=col.key, width=col.width)

    def set_source(self, source: PageSource, *, keep_offset: bool = False) -> None:
        columns_changed = self.source is None or self.source.columns != source.columns
        self.source = source
        if columns_changed and self.is_mounted:
            self._set_columns()
        self.load(self.page_offset if keep_offset else 0)

    def reload(self) -> None:
        self.load(self.page_offset)

    def load(self, offset: int) -> None:
        if self.source is None:
            return
        self.loaded = False
        self._requests += 1
        self._fetch(self.source, offset, self._requests)

    @work(thread=True, exclusive=True, exit_on_error=False, group="page")
    def _fetch(self, source: PageSource, offset: int, request: int) -> None:
        # an exclusive thread worker replaced by a newer load still runs to its end: its page is then dropped
        # (typing a search fast, an older query's rows arrived after the newer one's and stayed)
        page = source.page(self.app.store, offset, self.page_size)
        self.post_message(self.Loaded(self, page, request))

    @on(Loaded)
    def _show(self, event: Loaded) -> None:
        event.stop()
        if event.request != self._requests:
            return
        page = event.page
        table = self.table
        keep_row = table.cursor_row if page.offset == self.page_offset else 0
        self.page_offset, self.total = page.offset, page.total
        table.clear()
        self._first = {str(row[0]): cell(row[1]) for row in page.rows}
        for row in page.rows:
            key = str(row[0])
            table.add_row(self._first_cell(key), *(fit(cell(v), c.width) for v, c in
                                                    zip(row[2:], self.source.columns[1:])), key=key)
        if page.rows:
            table.move_cursor(row=min(keep_row, len(page.rows) - 1), animate=False)
        self._update_pager()
        self.loaded = True
        self.post_message(self.Refreshed(self))
        if self._select_when_loaded:
            self._select_when_loaded = False
            if page.rows:               # from the table itself: a message a parent sends stops at that parent
                table.call_later(table.action_select_cursor)

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        if not self.loaded:             # the rows shown are the replaced load's: select from the next page
            event.stop()
            self._select_when_loaded = True

    @dataclass
    class Refreshed(Message):
        """A page was shown (tests and screens may wait on it)."""
        table: "PagedTable"

        @property
        def control(self) -> "PagedTable":
            return self.table

    def _update_pager(self) -> None:
        if self.total == 0:
            text = "no rows"
        else:
            last = min(self.page_offset + self.page_size, self.total)
            pages = (self.total - 1) // self.page_size + 1
            text = (f"rows {self.page_offset + 1:,}–{last:,} of {self.total:,} · page "
                    f"{self.page_offset // self.page_size + 1:,}/{pages:,} · [ ] page")
        if self.marked:
            text += f" · {len(self.marked):,} marked {MARK.strip()}"
        self.query_one(".pager", Static).update(text)

    def _first_cell(self, key: str) -> str:
        return fit((MARK if key in self.marked else "") + self._first[key], self.source.columns[0].width)

    def toggle_mark(self) -> str | None:
        """Mark (or unmark) the selected row and move the cursor to the next one; its key, or None (no rows)."""
        key = self.selected_key
        if key is None:
            return None
        self.marked.symmetric_difference_update({key})
        self.table.update_cell(key, self.source.columns[0].key, self._first_cell(key))
        self.table.action_cursor_down()
        self._update_pager()
        return key

    def set_marks(self, keys: set[str]) -> None:
        self.marked = set(keys)
        for key in self._first:
            self.table.update_cell(key, self.source.columns[0].key, self._first_cell(key))
        self._update_pager()

    def action_page(self, delta: int) -> None:
        new = self.page_offset + delta * self.page_size
        if 0 <= new < max(self.total, 1):
            self.load(new)

    def action_first_page(self) -> None:
        self.load(0)

    def action_last_page(self) -> None:
        self.load(max(0, (self.total - 1) // self.page_size * self.page_size))

    def on_worker_state_changed(self, event) -> None:
        from workbench.ui.screens.base import report_worker_error
        report_worker_error(self, event)

    @property
    def selected_key(self) -> str | None:
        table = self.table
        if table.row_count == 0:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def focus_table(self) -> None:
        self.table.focus()
