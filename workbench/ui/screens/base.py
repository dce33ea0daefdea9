"""What every dashboard screen shares: header, footer, store, clock, refresh on resume."""
from __future__ import annotations

from datetime import datetime

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header
from textual.worker import Worker, WorkerState

from workbench.store import Store


def report_worker_error(node, event: Worker.StateChanged) -> None:
    """A failed worker becomes an error toast `CODE: title — remedy` (never a traceback)."""
    if event.state == WorkerState.ERROR and event.worker.error is not None:
        node.app.show_error(event.worker.error)


class WorkbenchScreen(Screen):
    """Base screen; subclasses implement ``compose_body`` and ``refresh_data``."""

    BINDINGS = [Binding("ctrl+r", "refresh_data", "Refresh", show=False)]

    def compose(self) -> ComposeResult:
        # the header names the screen and which store is open ("demo" for a demo store)
        self.sub_title = " · ".join(part for part in (type(self).SUB_TITLE, self.app.sub_title) if part)
        yield Header(show_clock=False, icon="≡")
        yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield from ()

    @property
    def store(self) -> Store:
        return self.app.store

    def clock(self) -> datetime:
        return self.app.clock()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Worker.StateChanged does not bubble: each node with workers reports its own failures
        report_worker_error(self, event)

    quiet_resume = False     # set by an overlay whose closing must not reload the screen (the password modal)

    def on_screen_resume(self) -> None:
        if self.quiet_resume:
            self.quiet_resume = False    # the worker that asked goes on; a reload would cancel it and ask again
            return
        self.refresh_data()

    def refresh_data(self) -> None:
        """Start the workers that (re)load what the screen shows."""

    def action_refresh_data(self) -> None:
        self.refresh_data()
