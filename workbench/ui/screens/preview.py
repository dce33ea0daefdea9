"""Preview: the sync plan for one or all operators, grouped by action, with field-level before/after.

``workbench.sync.preview.preview`` (the same call as `workbench sync --dry-run` and the notebooks)
builds the plan in a worker; this screen only arranges its DataFrames. Apply executes this very
plan (``run_sync(plan=...)``) on the Sync screen after a confirmation: an action whose contact changed
in Exchange or the CRM since the preview is skipped (PLAN_STALE), never applied over the newer edit.
A plan is applied once: afterwards, or once another run wrote to its mailboxes (superseded), Apply is
greyed out and the status line says so and offers a fresh preview (``workbench.sync.lifecycle``).
"""
from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Input, Static

from workbench.errors import CATALOGUE
from workbench.ui.data import cell, fit
from workbench.ui.screens.base import WorkbenchScreen
from workbench.ui.widgets.confirm import Confirm

DETAIL_LIMIT = 500
#: the detail's columns (key, label, width), sized to fit the pane at 120 columns (a longer value ends in …):
#: rows that change fields show them before -> after; rows that change none (a skip) show why, wide
FIELD_COLUMNS = (("contact", "Contact", 11), ("field", "Field", 14), ("before", "Before", 20), ("after", "After", 20),
                 ("why", "Reason / code", 40))
REASON_COLUMNS = (("contact", "Contact / item", 14), ("why", "Reason / code", 56))
#: failing mailboxes listed under the plan (code and title each; `workbench preview` prints every message)
NOTED_ERRORS = 4
ACTION_STYLE = {"create-exchange": "green", "create-crm": "green", "update-exchange": "cyan",
                "update-crm": "cyan", "conflict": "bold yellow", "delete-exchange": "bold red",
                "unlink-crm": "red", "skip": "dim"}


class PreviewScreen(WorkbenchScreen):
    SUB_TITLE = "Preview"
    BINDINGS = [
        Binding("p", "preview_all", "Preview all"),
        Binding("o", "preview_one", "Preview operator"),
        Binding("a", "apply", "Apply…"),
        Binding("slash", "focus_operator", "Operator", show=False),
    ]

    @dataclass
    class Ready(Message):
        preview: object
        operators: list[str] | None

    @dataclass
    class Reading(Message):
        """How far the preview's snapshot is (``ProgressEvent.message``), from its mailbox workers."""
        text: str

    def __init__(self) -> None:
        super().__init__()
        self.preview = None
        self.operators: list[str] | None = None
        self.busy = False

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="pv-top"):
            yield Input(placeholder="operator id (empty = all enabled operators); enter previews", id="pv-operator")
            yield Static("", id="pv-status")
        with Horizontal(id="pv-body"):
            with Vertical(id="pv-left"):
                yield DataTable(id="pv-summary", cursor_type="row", zebra_stripes=True)
                yield Static("", id="pv-notes")
            yield DataTable(id="pv-detail", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        summary = self.query_one("#pv-summary", DataTable)
        summary.add_column("Action", key="action", width=16)
        summary.add_column("Operator", key="operator", width=8)
        summary.add_column("Count", key="count", width=6)
        self._detail_columns(FIELD_COLUMNS)
        self.query_one("#pv-left").border_title = "Plan by action"
        self._status("no plan yet: p previews every enabled operator, o the one typed above")
        summary.focus()

    def _detail_columns(self, columns: tuple[tuple[str, str, int], ...]) -> None:
        """The detail table emptied, with ``columns`` (rebuilt only when they change)."""
        table = self.query_one("#pv-detail", DataTable)
        table.border_title = "Before → after" if columns is FIELD_COLUMNS else "Why"
        if [str(c.label) for c in table.columns.values()] == [label for _, label, _ in columns]:
            table.clear()
            return
        table.clear(columns=True)
        for key, label, width in columns:
            table.add_column(label, key=key, width=width)

    def _status(self, text: str | Text) -> None:
        self.query_one("#pv-status", Static).update(text)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "apply":
            usable = (self.preview is not None and not self.busy and not self.preview.is_empty
                      and self.preview.plan.lifecycle.applicable)
            return True if usable else None
        if action in ("preview_all", "preview_one"):
            return None if self.busy else True
        return True

    # --- computing -----------------------------------------------------------------
    def action_preview_all(self) -> None:
        self.start([])

    def action_preview_one(self) -> None:
        op = self.query_one("#pv-operator", Input).value.strip()
        if not op:
            self.action_focus_operator()
            self.notify("Type an operator id, then press enter.")
            return
        self.start([op])

    def action_focus_operator(self) -> None:
        self.query_one("#pv-operator", Input).focus()

    @on(Input.Submitted, "#pv-operator")
    def submitted(self, event: Input.Submitted) -> None:
        op = event.value.strip()
        self.start([op] if op else [])
        self.query_one("#pv-summary", DataTable).focus()

    def start(self, operators: list[str]) -> None:
        self.busy = True
        self.refresh_bindings()
        who = ", ".join(operators) if operators else "all enabled operators"
        self._status(Text(f"computing the plan for {who}: snapshot of each mailbox, then plan…", style="yellow"))
        self.compute(operators or None)

    @work(thread=True, exclusive=True, exit_on_error=False, group="preview")
    def compute(self, operators: list[str] | None) -> None:
        from workbench.sync.preview import preview
        try:
            result = preview(self.store, operators, progress=lambda e: self.post_message(self.Reading(e.message)))
        finally:
            self.app.call_from_thread(self._done)
        self.post_message(self.Ready(result, operators))

    def _done(self) -> None:
        self.busy = False
        self.refresh_bindings()

    def on_worker_state_changed(self, event) -> None:
        super().on_worker_state_changed(event)
        if event.state.name == "ERROR":
            self._status(Text("preview failed (see the message)", style="bold red"))

    @on(Reading)
    def reading(self, event: Reading) -> None:
        if self.busy:                                       # not after the plan is shown
            self._status(Text(f"{event.text}…", style="yellow"))

    @on(Ready)
    def ready(self, event: Ready) -> None:
        self.preview, self.operators = event.preview, event.operators
        self.refresh_bindings()
        pv = event.preview
        summary = self.query_one("#pv-summary", DataTable)
        summary.clear()
        by_action = pv.summary.sort_values(["action", "operator_id"], kind="stable")
        for action, group in by_action.groupby("action", sort=True):
            style = ACTION_STYLE.get(action, "")
            summary.add_row(Text(action, style=f"bold {style}"), "all", str(int(group["count"].sum())),
                            key=f"{action}|")
            for row in group.itertuples(index=False):
                summary.add_row(Text(f"  {action}", style=style), row.operator_id, str(int(row.count)),
                                key=f"{action}|{row.operator_id}")
        writes = len(pv.plan.writes)
        notes = Text()
        notes.append(f"{writes} write(s) planned", style="bold")
        notes.append(f" · {len(pv.conflicts)} conflicting field(s) · {len(pv.overwrites)} Exchange edit(s) "
                     "overwritten by CRM-wins\n")
        for row in pv.guards.itertuples(index=False):
            notes.append(f"✗ MASS_DELETE {row.operator_id}: deletes {row.deletes} of {row.links} links — "
                         "apply stops this mailbox\n", style="bold red")
        errors = sorted(pv.errors.items())
        for op, err in errors[:NOTED_ERRORS]:
            code = err.partition(":")[0]
            notes.append(f"✗ {op} {code}\n", style="red")
            notes.append(f"  {fit(CATALOGUE[code].title if code in CATALOGUE else err, 40)}\n", style="dim")
        if len(errors) > NOTED_ERRORS:
            notes.append(f"✗ … and {len(errors) - NOTED_ERRORS} more mailboxes (`workbench preview` lists them)\n",
                         style="red")
        self.query_one("#pv-notes", Static).update(notes)
        self._show_state()
        if summary.row_count:
            summary.move_cursor(row=0)
            self._show_detail(summary.coordinate_to_cell_key(summary.cursor_coordinate).row_key.value)
        else:
            self._detail_columns(FIELD_COLUMNS)

    def _show_state(self) -> None:
        """The status line from the plan and its lifecycle: applicable, applied, or out of date."""
        pv = self.preview
        if pv is None:
            return
        who = ", ".join(self.operators) if self.operators else "all enabled operators"
        life = pv.plan.lifecycle
        if not life.applicable:
            self._status(Text(f"plan for {who}: {life.describe()} — cannot be applied again; p previews afresh",
                              style="bold yellow"))
        elif pv.is_empty:
            self._status(Text(f"plan for {who}: nothing to write — in sync", style="green"))
        else:
            self._status(Text(f"plan for {who}: {len(pv.plan.writes)} write(s); a applies it after a confirmation",
                              style="bold"))
        self.refresh_bindings()

    def refresh_data(self) -> None:
        """Back on this screen: a plan applied meanwhile, or superseded by another run, is shown so."""
        if self.preview is not None and self.preview.plan.lifecycle.applicable and not self.busy:
            self.check_plan(self.preview)
        self._show_state()

    @work(thread=True, exclusive=True, exit_on_error=False, group="preview-state")
    def check_plan(self, pv) -> None:
        from workbench.sync.lifecycle import refresh
        from workbench.sync.status import preview_scope
        refresh(pv.plan.lifecycle, self.store, preview_scope(pv)[1])
        self.app.call_from_thread(self._show_state)

    @on(DataTable.RowHighlighted, "#pv-summary")
    def summary_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value:
            self._show_detail(event.row_key.value)

    def _show_detail(self, key: str) -> None:
        if self.preview is None:
            return
        action, _, operator = key.partition("|")
        d = self.preview.detail
        rows = d[d["action"] == action]
        if operator:
            rows = rows[rows["operator_id"] == operator]
        table = self.query_one("#pv-detail", DataTable)
        columns = FIELD_COLUMNS if rows["field"].fillna("").astype(bool).any() else REASON_COLUMNS
        self._detail_columns(columns)
        width = dict((key, w) for key, _, w in columns)
        for i, row in enumerate(rows.head(DETAIL_LIMIT).itertuples(index=False)):
            why = ": ".join(x for x in (row.code, row.reason) if x)      # a skip's reason is always shown
            values = {"contact": fit(cell(row.contact_id or row.item_id), width["contact"]),
                      "field": fit(cell(row.field), 14), "before": fit(cell(row.before), 20),
                      "after": Text(fit(cell(row.after), 20), style="bold" if row.field else ""),
                      "why": fit(why, width["why"])}
            table.add_row(*(values[key] for key, _, _ in columns), key=str(i))
        more = len(rows) - DETAIL_LIMIT
        table.border_subtitle = (f"{action} · {operator or 'all operators'} · {len(rows)} row(s)"
                                 + (f", first {DETAIL_LIMIT} shown" if more > 0 else ""))

    # --- applying ------------------------------------------------------------------
    def action_apply(self) -> None:
        if self.preview is None:
            return
        if not self.preview.plan.lifecycle.applicable:
            self._show_state()
            return
        writes = len(self.preview.plan.writes)
        mailboxes = self.preview.plan.writes["operator_id"].nunique()
        who = ", ".join(self.operators) if self.operators else "all enabled operators"
        question = (f"Apply the plan for {who}?\n\n{writes} write(s) in {mailboxes} mailbox(es); "
                    f"{len(self.preview.overwrites)} Exchange edit(s) will be overwritten.\n"
                    "Exactly these actions run. A contact changed since this preview is left alone "
                    "(PLAN_STALE in the journal); preview again to include it."
                    + (f"\n{len(self.preview.errors)} mailbox(es) the preview could not read are tried again "
                       "and reported (failed, e-mailed) as a run reports them." if self.preview.errors else ""))
        plan = self.preview          # the whole preview: its scope includes the mailboxes it could not plan

        def decided(yes: bool | None) -> None:
            if yes:
                self.app.start_sync(self.operators, plan=plan)
        self.app.push_screen(Confirm(question, yes="Apply"), decided)
