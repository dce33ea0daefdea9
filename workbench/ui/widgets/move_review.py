"""The review of a backend move in the dashboard (`operators move` there): what the dry run found, then move,
try the other backend, or cancel. ModalScreen[str | None]: "move", "retarget" or None (cancelled)."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

SHOW_MISSING = 8       # missing item ids listed per operator


class MoveReviewScreen(ModalScreen[str | None]):
    DEFAULT_CSS = """
    MoveReviewScreen { align: center middle; }
    MoveReviewScreen > Vertical { width: 96; height: auto; max-height: 90%; border: thick $warning;
                                  background: $surface; padding: 1 2; }
    MoveReviewScreen .title { text-style: bold; margin-bottom: 1; }
    MoveReviewScreen .note { margin-top: 1; }
    MoveReviewScreen Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    MoveReviewScreen Button { margin-left: 2; }
    """
    BINDINGS = [Binding("y", "answer('move')", "Move"), Binding("t", "answer('retarget')", "Other backend"),
                Binding("n,escape", "answer(None)", "Cancel")]

    def __init__(self, target: str, results: list) -> None:
        super().__init__()
        self.target, self.results = target, results
        self.movable = any(r.source != r.target for r in results)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Move to {self.target}: dry run (nothing written yet)", classes="title", markup=False)
            yield Static(self._lines(), id="mv-lines", markup=False)
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
