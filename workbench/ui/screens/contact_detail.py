"""One contact's story: CRM row and team, the Exchange values of each mailbox beside the CRM's (differences
marked), the journal with the values each write carried, deletes and undos, and the next planned action."""
from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Static

from workbench.contact_history import ContactHistory, contact_history
from workbench.fields import CONTACT_FIELDS
from workbench.ui.data import cell
from workbench.ui.screens.base import WorkbenchScreen

JOURNAL = ("When", "Run", "Trigger", "Mailbox", "Action", "Outcome", "Side", "Rule")
SKIP_ACTIONS = ("batch", "snapshot")


class ContactDetailScreen(WorkbenchScreen):
    SUB_TITLE = "Contact"
    BINDINGS = [Binding("escape,backspace", "back", "Back")]

    @dataclass
    class Loaded(Message):
        history: ContactHistory

    def __init__(self, contact_id: str) -> None:
        super().__init__()
        self.contact_id = contact_id
        self.entries: dict[str, object] = {}

    def compose_body(self) -> ComposeResult:
        yield Static("", id="cd-head", markup=False)
        yield DataTable(id="cd-fields", cursor_type="row", zebra_stripes=True)
        yield DataTable(id="cd-journal", cursor_type="row", zebra_stripes=True)
        yield Static("", id="cd-entry", markup=False)
        yield Static("", id="cd-next", markup=False)

    def on_mount(self) -> None:
        self.query_one("#cd-fields").border_title = "CRM and Exchange, field by field (≠ differs)"
        self.query_one("#cd-journal").border_title = "Journal (oldest first; the highlighted entry's values below)"
        self.query_one("#cd-entry").border_title = "Values written / detail"
        self.query_one("#cd-next").border_title = "Deletes and the next sync"

    def refresh_data(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="contact")
    def load(self) -> None:
        self.post_message(self.Loaded(contact_history(self.store, self.contact_id)))

    @on(Loaded)
    def show(self, event: Loaded) -> None:
        h = event.history
        crm = h.crm
        team = ", ".join(h.team["operator_id"]) if len(h.team) else "(nobody)"
        deleted = f" · deleted in the CRM {cell(crm['deleted_at'])}" if crm.get("deleted_at") else ""
        self.query_one("#cd-head", Static).update(
            f"{h.contact_id}  {crm.get('given_name') or ''} {crm.get('surname') or ''}  <{crm.get('email') or '-'}>"
            f"  · team {team}{deleted}")
        self._fields(h)
        self._journal(h)
        self._next(h)

    def _fields(self, h: ContactHistory) -> None:
        table = self.query_one("#cd-fields", DataTable)
        table.clear(columns=True)
        table.add_column("Field", width=14)
        table.add_column("CRM", width=28)
        for m in h.mailboxes:
            table.add_column(f"{m['operator_id']}{'' if m['linked'] else ' (not linked)'}", width=30)
        for i, f in enumerate(CONTACT_FIELDS):      # the order of each mailbox's ``fields`` frame
            cells: list[object] = [f, cell(h.crm.get(f))]
            for m in h.mailboxes:
                row = m["fields"].iloc[i]
                cells.append(Text("≠ " + cell(row["exchange"]), style="bold yellow") if row["differs"]
                             else cell(row["exchange"]))
            table.add_row(*cells, key=f)

    def _journal(self, h: ContactHistory) -> None:
        table = self.query_one("#cd-journal", DataTable)
        table.clear(columns=True)
        for label in JOURNAL:
            table.add_column(label)
        shown = h.journal[~h.journal["action"].isin(SKIP_ACTIONS)]
        self.entries = {str(r.log_id): r for r in shown.itertuples(index=False)}
        for r in shown.itertuples(index=False):
            style = "red" if r.outcome in ("failed", "cancelled") else ""
            table.add_row(cell(r.logged_at), cell(r.run_id), cell(r.trigger), cell(r.operator_id),
                          Text(r.action, style=style), Text(r.outcome, style=style), cell(r.side), cell(r.rule),
                          key=str(r.log_id))
        if len(shown):
            table.move_cursor(row=len(shown) - 1, animate=False)     # the latest step

    @on(DataTable.RowHighlighted, "#cd-journal")
    def entry_highlighted(self, event: DataTable.RowHighlighted) -> None:
        r = self.entries.get(event.row_key.value) if event.row_key is not None else None
        text = Text()
        if r is not None:
            if r.values:
                text.append(r.values + "\n", style="bold")
            text.append(" · ".join(str(x) for x in (r.code, r.detail) if x))
        self.query_one("#cd-entry", Static).update(text)

    def _next(self, h: ContactHistory) -> None:
        text = Text()
        for d in h.deletes.itertuples(index=False):
            text.append(f"run {d.run_id}: {d.action} in {d.operator_id} → {d.went_to or 'deleted in Exchange'}")
            text.append(f"; undone by run {d.restore_run_id} ({d.restored_how})\n" if d.restored_how else
                        f"; `workbench sync undo {d.run_id}` brings it back\n")
        writes = h.next_actions[h.next_actions["action"] != "skip"]
        if len(writes):
            text.append("next sync: " + "; ".join(f"{a.operator_id} {a.action} ({a.reason or a.match})"
                                                 for a in writes.itertuples(index=False)), style="bold")
        else:
            text.append("next sync: nothing to do for this contact", style="dim")
        self.query_one("#cd-next", Static).update(text)

    def action_back(self) -> None:
        self.app.pop_screen()
