"""A PagedTable shows the page of its latest load only: a replaced load (typing a search fast) whose worker ends
after the newer one's is dropped, never shown over it."""
from __future__ import annotations

import threading
from dataclasses import dataclass

from textual.app import App
from ui_fixtures import aio, until

from workbench.readmodels.paging import Column, Page
from workbench.ui.widgets.paged_table import PagedTable

COLUMNS = (Column("key", "Key", 10),)


@dataclass(frozen=True)
class Slow:
    """A source whose page waits for ``go`` (the old query still running when a newer one is shown)."""
    name: str
    go: threading.Event
    entered: threading.Event
    columns: tuple = COLUMNS

    def page(self, store, offset: int, limit: int) -> Page:
        self.entered.set()
        assert self.go.wait(30)
        return Page(0, 1, [(self.name, self.name)])


class Host(App):
    store = None

    def compose(self):
        yield PagedTable(id="t")


@aio
async def test_an_older_page_arriving_last_is_not_shown():
    app = Host()
    async with app.run_test() as pilot:
        table = app.query_one(PagedTable)
        old_go, new_go = threading.Event(), threading.Event()
        old_in = threading.Event()
        table.set_source(Slow("old", old_go, old_in))
        await until(pilot, old_in.is_set)                # its worker is reading
        table.set_source(Slow("new", new_go, threading.Event()))   # replaces the load still running
        new_go.set()
        await until(pilot, lambda: table.loaded)
        old_go.set()                                     # the replaced worker ends now, after the newer page
        await pilot.pause(0.3)
        for _ in range(20):
            await pilot.pause()
        assert [str(table.table.get_row_at(i)[0]).strip(" ●") for i in range(table.table.row_count)] == ["new"]


class Opener(Host):
    def __init__(self) -> None:
        super().__init__()
        self.opened: list[str] = []

    def on_data_table_row_selected(self, event) -> None:
        self.opened.append(str(event.row_key.value))


@aio
async def test_enter_while_a_page_loads_opens_a_row_of_that_page_not_of_the_one_it_replaces():
    app = Opener()
    async with app.run_test() as pilot:
        table = app.query_one(PagedTable)
        table.set_source(Slow("all", _set(), threading.Event()))
        await until(pilot, lambda: table.loaded)
        go = threading.Event()
        table.set_source(Slow("searched", go, threading.Event()))    # a search typed; its page not in yet
        table.focus_table()
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert app.opened == []                          # the old page's row is not opened
        go.set()
        await until(pilot, lambda: app.opened)
        assert app.opened == ["searched"]
        await pilot.press("enter")                       # an enter on a shown page opens at once, once
        await until(pilot, lambda: len(app.opened) == 2)
        assert app.opened == ["searched", "searched"]


def _set() -> threading.Event:
    event = threading.Event()
    event.set()
    return event
