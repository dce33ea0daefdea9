"""Sync: run ``workbench.sync.engine.run_sync`` in a worker with live progress, cancel and journal.

``r`` asks first: it previews (snapshot + plan, nothing written) and names how many writes in how many
mailboxes; on yes it runs the sync as the CLI does (snapshot and plan again, so an edit made while the
question was open is included, not overwritten).

Progress events from the engine become ``Progress`` messages (coalesced: the bar and rate show the
latest); the per-mailbox table and the live journal are read from the store every second while a
run is going (the engine commits each batch's outcomes, so the store is the truth).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, ProgressBar, Static

from workbench.readmodels.journal import LiveRun, live_run
from workbench.sync.results import Phase
from workbench.ui.data import cell, fit
from workbench.ui.screens.base import WorkbenchScreen


#: the live journal's columns (a longer value ends in …)
JOURNAL_COLUMNS = (("id", "#", 6), ("op", "Operator", 8), ("contact", "Contact", 10), ("action", "Action", 15),
                   ("outcome", "Outcome", 9), ("code", "Code", 24), ("detail", "Detail", 40))
NOTE_WIDTH = 60


class SyncScreen(WorkbenchScreen):
    SUB_TITLE = "Sync"
    BINDINGS = [
        Binding("r", "start", "Run sync"),
        Binding("c", "cancel", "Cancel"),
        Binding("l", "open_log", "Journal of run"),
    ]

    @dataclass
    class Progress(Message):
        event: object

    @dataclass
    class Finished(Message):
        result: object

    @dataclass
    class Live(Message):
        live: LiveRun

    def __init__(self) -> None:
        super().__init__()
        self.token = None
        self.running = False
        self.run_id: int | None = None
        self.started = 0.0
        self.operators: list[str] | None = None

    def compose_body(self) -> ComposeResult:
        with Vertical(id="sy-overall", classes="box"):
            yield Static("no sync running: r runs one for every enabled operator", id="sy-label")
            yield ProgressBar(id="sy-bar", total=1, show_eta=False)
        yield DataTable(id="sy-mailboxes", cursor_type="row", zebra_stripes=True)
        yield DataTable(id="sy-journal", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.query_one("#sy-overall").border_title = "Overall"
        boxes = self.query_one("#sy-mailboxes", DataTable)
        boxes.border_title = "Mailboxes"
        for key, label, width in (("op", "Operator", 8), ("planned", "Planned", 7), ("done", "Done", 6),
                                  ("failed", "Failed", 6), ("batch", "Batches", 8), ("state", "State", 10),
                                  ("note", "Last event", NOTE_WIDTH)):
            boxes.add_column(label, key=key, width=width)
        journal = self.query_one("#sy-journal", DataTable)
        journal.border_title = "Live journal"
        for key, label, width in JOURNAL_COLUMNS:
            journal.add_column(label, key=key, width=width)
        self.batches: dict[str, str] = {}
        self.set_interval(1.0, self._poll, pause=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "start":
            return None if self.running else True
        if action == "cancel":
            return True if self.running and self.token is not None else None
        if action == "open_log":
            return True if self.run_id is not None else None
        return True

    # --- start / cancel ---------------------------------------------------------------
    def action_start(self) -> None:
        if self.running:
            return
        self.running = True               # no second `r` while planning (nor `c`: no run to cancel yet)
        self.token = None
        self.started = time.monotonic()
        self.refresh_bindings()
        self.query_one("#sy-label", Static).update(
            Text("planning: a snapshot of every enabled mailbox, nothing written yet…", style="yellow"))
        self.plan_first()

    @work(thread=True, exclusive=True, exit_on_error=False, group="sync-plan")
    def plan_first(self) -> None:
        from workbench.sync.preview import preview
        try:
            pv = preview(self.store, progress=lambda e: self.post_message(self.Progress(e)))
        finally:
            self.app.call_from_thread(self._planned)
        self.app.call_from_thread(self._ask, pv)

    def _planned(self) -> None:
        self.running = False
        self.refresh_bindings()

    def _ask(self, pv) -> None:
        from workbench.ui.widgets.confirm import Confirm
        writes = pv.plan.writes
        question = (f"Run the sync for all enabled operators?\n\n{len(writes)} write(s) in "
                    f"{writes['operator_id'].nunique()} mailbox(es) planned now; {len(pv.overwrites)} Exchange "
                    "edit(s) overwritten by CRM-wins. The run plans again, so a change made meanwhile is included.")
        if pv.errors:
            question += (f"\n{len(pv.errors)} mailbox(es) could not be read ({', '.join(sorted(pv.errors))}): "
                         "tried again, reported failed and e-mailed.")
        if len(pv.guards):
            question += f"\n{len(pv.guards)} mailbox(es) stop at the mass-deletion guard."

        def decided(yes: bool | None) -> None:
            if yes:
                self.start(None)
            else:
                self.query_one("#sy-label", Static).update("not run: nothing written. r plans again")
                self.query_one("#sy-bar", ProgressBar).update(total=1, progress=0)
        self.app.push_screen(Confirm(question, yes="Run"), decided)

    def start(self, operators: list[str] | None, plan: object = None) -> None:
        """Run a sync; with ``plan`` (from Preview's apply) execute that previewed plan, nothing else."""
        if self.running:
            self.notify("A sync is already running.", severity="warning")
            return
        from workbench.sync.engine import CancelToken
        self.token = CancelToken()
        self.running, self.run_id, self.operators = True, None, operators
        self.started = time.monotonic()
        self.batches = {}
        self.query_one("#sy-bar", ProgressBar).update(total=None, progress=0)
        who = ", ".join(operators) if operators else "all enabled operators"
        self.query_one("#sy-label", Static).update(
            f"applying the previewed plan for {who}: checking nothing changed since…" if plan is not None
            else f"starting: snapshot and plan for {who}…")
        self.refresh_bindings()
        self.run(operators, self.token, plan)

    def action_cancel(self) -> None:
        if self.running and self.token is not None:
            self.token.cancel()
            self.query_one("#sy-label", Static).update(
                Text("cancelling: the current batch finishes, nothing done is lost…", style="bold yellow"))

    def action_open_log(self) -> None:
        if self.run_id is None:
            return
        run_id = self.run_id
        self.app.switch_mode("log")
        self.app.call_after_refresh(lambda: self.app.screen.show_run(run_id))

    @work(thread=True, exclusive=True, exit_on_error=False, group="sync")
    def run(self, operators: list[str] | None, token, plan: object = None) -> None:
        from workbench.sync.engine import run_sync
        try:
            result = run_sync(self.store, operators, progress=lambda e: self.post_message(self.Progress(e)),
                              cancel=token, trigger="dashboard", plan=plan)
        finally:
            self.app.call_from_thread(self._stopped)
        self.post_message(self.Finished(result))

    def _stopped(self) -> None:
        self.running = False
        self.refresh_bindings()
        self._poll()

    # --- progress -------------------------------------------------------------------
    @on(Progress)
    def progress(self, message: Progress) -> None:
        e = message.event
        bar = self.query_one("#sy-bar", ProgressBar)
        bar.update(total=max(e.items_total, 1), progress=e.items_done)
        elapsed = time.monotonic() - self.started
        label = Text()
        if e.phase == Phase.SNAPSHOT:       # planning: mailboxes done so far, nothing written yet
            label.append(e.message, style="bold")
            label.append(f" · {elapsed:,.0f} s · nothing written yet")
            self.query_one("#sy-label", Static).update(label)
            return
        if e.operator_id:
            self.batches[e.operator_id] = f"{e.batch_no}/{e.batches_total}"
        label.append(f"{e.items_done:,}/{e.items_total:,} items", style="bold")
        label.append(f" · {e.items_per_second:,.1f} items/s · {elapsed:,.0f} s · {e.message}")
        if self.token is not None and self.token.cancelled:
            label.append("  (cancelling…)", style="bold yellow")
        self.query_one("#sy-label", Static).update(label)

    @on(Finished)
    def finished(self, message: Finished) -> None:
        r = message.result
        self.run_id = r.run_id
        style = {"ok": "bold green", "cancelled": "bold yellow"}.get(r.status, "bold red")
        text = Text()
        text.append(f"run {r.run_id} {r.status}", style=style)
        stale = f", {r.stale} changed since the preview (PLAN_STALE)" if r.stale else ""
        stale += f", {r.cancelled} cancelled" if r.cancelled else ""
        text.append(f": {r.done} done, {r.failed} failed{stale} of {r.planned} planned in {len(r.mailboxes)} mailbox(es), "
                    f"{r.requests} requests, {r.retries} retries, {r.seconds:,.1f} s — l opens its journal")
        self.query_one("#sy-label", Static).update(text)
        bar = self.query_one("#sy-bar", ProgressBar)
        # nothing planned: a full bar when the run is ok (nothing to do), an empty one when its mailboxes failed
        bar.update(total=max(r.planned, 1), progress=r.done + r.failed if r.planned else int(r.status == "ok"))
        self.notify(f"Sync run {r.run_id}: {r.status} ({r.done} done, {r.failed} failed)",
                    severity="information" if r.status == "ok" else "warning", title="Sync")
        self.refresh_bindings()

    def refresh_data(self) -> None:
        self._poll()

    def _poll(self) -> None:
        """Reload the live tables, only while this screen is shown: every poll opens the store, which other
        processes (the agent, a notebook) then wait for; coming back reloads at once (``on_screen_resume``)."""
        if self.is_attached and self.is_current:
            self.load_live(self.running)

    @work(thread=True, exclusive=True, exit_on_error=False, group="live")
    def load_live(self, running: bool) -> None:
        self.post_message(self.Live(live_run(self.store, trigger="dashboard" if running else None)))

    @on(Live)
    def show_live(self, message: Live) -> None:
        live = message.live
        boxes = self.query_one("#sy-mailboxes", DataTable)
        boxes.clear()
        for op, planned, done, failed, state, note in live.mailboxes:
            style = {"failed": "bold red", "cancelled": "yellow", "done": "green", "running": "cyan"}.get(state, "")
            boxes.add_row(op, str(planned), str(done), Text(str(failed), style="red" if failed else ""),
                          self.batches.get(op, ""), Text(state, style=style), fit(note or "", NOTE_WIDTH),
                          key=op)
        journal = self.query_one("#sy-journal", DataTable)
        journal.clear()
        for row in live.journal:
            outcome = row[4]
            values = [fit(cell(v), c[2]) for v, c in zip(row, JOURNAL_COLUMNS)]
            values[4] = Text(outcome, style={"failed": "bold red", "ok": "green", "cancelled": "yellow"}
                             .get(outcome, ""))
            journal.add_row(*values, key=str(row[0]))
        if live.run_id is not None:
            boxes.border_subtitle = f"run {live.run_id} · {live.status}"
            if not self.running and self.run_id is None:
                self.run_id = live.run_id
                self.refresh_bindings()
