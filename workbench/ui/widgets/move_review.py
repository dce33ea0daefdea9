"""The review of a backend move in the dashboard (`operators move` there) of one operator or several (marked):
what the dry run found for each, then move, try the other backend, or cancel. ModalScreen[str | None]: "move",
"retarget" or None (cancelled). Only the operators the dry run could translate are moved."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from workbench.operators.move import summary

SHOW_MISSING = 8       # missing item ids listed per operator


class MoveReviewScreen(ModalScreen[str | None]):
    DEFAULT_CSS = """
    MoveReviewScreen { align: center middle; }
    MoveReviewScreen > Vertical { width: 96; height: auto; max-height: 90%; border: thick $warning;
                                  background: $surface; padding: 1 2; }
    MoveReviewScreen .title { text-style: bold; margin-bottom: 1; }
    MoveReviewScreen VerticalScroll { height: auto; max-height: 24; }
    MoveReviewScreen .note { margin-top: 1; }
    MoveReviewScreen Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    MoveReviewScreen Button { margin-left: 2; }
    """
    BINDINGS = [Binding("y", "answer('move')", "Move"), Binding("t", "answer('retarget')", "Other backend"),
                Binding("n,escape", "answer(None)", "Cancel")]

    def __init__(self, target: str, results: list) -> None:
        super().__init__()
        self.target, self.results = target, results
        self.movable = any(r.outcome(dry_run=True) == "would move" for r in results)

    def compose(self) -> ComposeResult:
        with Vertical():
            who = f" {len(self.results)} operators" if len(self.results) > 1 else ""
            yield Static(f"Move{who} to {self.target}: dry run (nothing written yet)", classes="title", markup=False)
            with VerticalScroll():
                yield Static(self._lines(), id="mv-lines", markup=False)
            if len(self.results) > 1:
                yield Static(summary(self.results, dry_run=True), id="mv-summary", classes="note", markup=False)
            if any(r.code for r in self.results):
                yield Static("The operators that failed the dry run are left out of the move.", classes="note",
                             markup=False)
            yield Static("Moving rewrites the stored item ids in one transaction; the next sync of the operator "
                         "starts with a snapshot on the new backend.", classes="note", markup=False)
            with Horizontal():
                yield Button("Cancel (n)", id="cancel")
                yield Button("Other backend (t)", id="retarget")
                yield Button(f"Move to {self.target} (y)", id="move", variant="warning", disabled=not self.movable)

    def _lines(self) -> str:
        lines = []
        for r in self.results:
            lines.append(r.describe(dry_run=True))
            lines += [f"  no longer in the mailbox: {item}" for item in r.missing[:SHOW_MISSING]]
            if len(r.missing) > SHOW_MISSING:
                lines.append(f"  … and {len(r.missing) - SHOW_MISSING} more")
        return "\n".join(lines)

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_answer(None if event.button.id == "cancel" else event.button.id)

    def action_answer(self, choice: str | None) -> None:
        if choice == "move" and not self.movable:
            return
        self.dismiss(choice)
