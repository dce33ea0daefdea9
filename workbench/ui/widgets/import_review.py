"""Operator CSV import: ask for the file, then show the review before anything is written."""
from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, Select, Static


@dataclass(frozen=True)
class ImportRequest:
    path: str
    mode: str
    match: str


class ImportDialog(ModalScreen["ImportRequest | None"]):
    """Path, mode and match key; enter reviews the file (a dry run), nothing is written yet."""
    DEFAULT_CSS = """
    ImportDialog { align: center middle; }
    ImportDialog > Vertical { width: 90; height: auto; border: thick $primary; background: $surface; padding: 1 2; }
    ImportDialog Horizontal { height: auto; margin-top: 1; }
    ImportDialog Label { width: 10; padding-top: 1; }
    ImportDialog Select { width: 30; }
    ImportDialog #buttons { align-horizontal: right; }
    ImportDialog Button { margin-left: 2; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, path: str = "") -> None:
        super().__init__()
        self.initial = path

    def compose(self) -> ComposeResult:
        from workbench.operators.csv_import import MATCH_KEYS, MODES
        with Vertical():
            yield Static("[b]Import operators from CSV[/b] — the next step shows the review; nothing is "
                         "written until you commit it.")
            yield Input(self.initial, placeholder="path/to/operators.csv", id="import-path")
            with Horizontal():
                yield Label("Mode")
                yield Select([(m, m) for m in MODES], value="add-or-update", allow_blank=False, id="import-mode")
                yield Label(" Match")
                yield Select([(m, m) for m in MATCH_KEYS], value="operator_id", allow_blank=False,
                             id="import-match")
            with Horizontal(id="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Review", id="review", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#import-path", Input).focus()

    def _request(self) -> ImportRequest | None:
        path = self.query_one("#import-path", Input).value.strip()
        if not path:
            self.notify("Give the path of the CSV file.", severity="warning")
            return None
        return ImportRequest(path, str(self.query_one("#import-mode", Select).value),
                             str(self.query_one("#import-match", Select).value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        request = self._request()
        if request:
            self.dismiss(request)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "cancel":
            self.dismiss(None)
            return
        request = self._request()
        if request:
            self.dismiss(request)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ImportReviewScreen(ModalScreen[str]):
    """The review: counts, every refused row (line, column, value, reason), every change.

    Dismisses with "commit", "commit-valid" (skip the refused rows) or "cancel".
    """
    DEFAULT_CSS = """
    ImportReviewScreen { align: center middle; }
    ImportReviewScreen > Vertical { width: 116; height: 90%; border: thick $primary; background: $surface; padding: 0 1; }
    ImportReviewScreen .counts { height: auto; margin: 1 0; }
    ImportReviewScreen DataTable { height: 1fr; }
    ImportReviewScreen .table-title { text-style: bold; }
    ImportReviewScreen #buttons { height: auto; align-horizontal: right; }
    ImportReviewScreen Button { margin-left: 2; }
    """
    BINDINGS = [Binding("escape,n", "choose('cancel')", "Cancel"),
                Binding("c", "choose('commit')", "Commit"),
                Binding("k", "choose('commit-valid')", "Commit valid rows")]

    def __init__(self, review) -> None:
        super().__init__()
        self.review = review

    def compose(self) -> ComposeResult:
        r = self.review
        with Vertical():
            text = Text()
            text.append(f"Review of {_name(r.path)}  ", style="bold")
            text.append(f"(mode {r.mode}, match {r.match})\n")
            text.append(f"processed {r.processed} · added {r.added} · updated {r.updated} · "
                        f"unchanged {r.unchanged} · ")
            text.append(f"failed {r.failed}", style="bold red" if r.failed else "green")
            if r.unknown_columns:
                text.append(f"\nignored columns: {', '.join(r.unknown_columns)}", style="yellow")
            text.append("\n")
            if r.failed:
                text.append("Refused rows block the import: fix the file, or commit only the valid rows.",
                            style="red")
            elif r.added or r.updated:
                text.append("All rows valid. Commit writes them in one transaction.", style="green")
            else:
                text.append("Nothing to write: every row is unchanged.")
            yield Static(text, classes="counts")
            if r.failed:
                yield Static("Refused rows", classes="table-title")
                yield DataTable(id="review-errors", cursor_type="row", zebra_stripes=True)
            yield Static("Changes", classes="table-title")
            yield DataTable(id="review-changes", cursor_type="row", zebra_stripes=True)
            with Horizontal(id="buttons"):
                yield Button("Cancel (n)", id="cancel")
                if r.failed and (r.added or r.updated):
                    yield Button("Commit valid rows only (k)", id="commit-valid", variant="warning")
                if not r.failed and (r.added or r.updated):
                    yield Button("Commit (c)", id="commit", variant="success")

    def on_mount(self) -> None:
        r = self.review
        if r.failed:
            errors = self.query_one("#review-errors", DataTable)
            errors.add_column("Line", width=5)
            errors.add_column("Column", width=13)
            errors.add_column("Value", width=28)
            errors.add_column("Reason", width=60)
            for e in r.errors:
                errors.add_row(str(e.line), e.column, e.value, Text(e.reason, style="red"))
        changes = self.query_one("#review-changes", DataTable)
        changes.add_column("Line", width=5)
        changes.add_column("Operator", width=10)
        changes.add_column("Action", width=9)
        changes.add_column("Changes", width=86)
        for line, oid, action, diff in r.changes_df().itertuples(index=False):
            if action != "unchanged":
                changes.add_row(str(line), oid, action, diff)
        if changes.row_count == 0:
            changes.add_row("", "", "", "no valid row changes anything")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "cancel")

    def action_choose(self, choice: str) -> None:
        r = self.review
        allowed = {"cancel": True, "commit": not r.failed and bool(r.added or r.updated),
                   "commit-valid": bool(r.failed) and bool(r.added or r.updated)}
        if allowed.get(choice):
            self.dismiss(choice)


def _name(path: str) -> str:
    from pathlib import Path
    return Path(path).name
