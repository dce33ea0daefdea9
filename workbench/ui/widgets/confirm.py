"""Yes/no confirmation as a ModalScreen[bool]."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class Confirm(ModalScreen[bool]):
    DEFAULT_CSS = """
    Confirm { align: center middle; }
    Confirm > Vertical { width: 72; height: auto; border: thick $warning; background: $surface; padding: 1 2; }
    Confirm .question { margin-bottom: 1; }
    Confirm Horizontal { height: auto; align-horizontal: right; }
    Confirm Button { margin-left: 2; }
    """
    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str, *, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.question = question
        self.yes, self.no = yes, no

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, classes="question")
            with Horizontal():
                yield Button(f"{self.no} (n)", id="no")
                yield Button(f"{self.yes} (y)", id="yes", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class Dialog(ModalScreen[None]):
    """A dialog with one text (an error's cause and remedy, a review); any key closes it."""
    DEFAULT_CSS = """
    Dialog { align: center middle; }
    Dialog > Vertical { width: 90; height: auto; max-height: 90%; border: thick $error; background: $surface; padding: 1 2; }
    Dialog.info > Vertical { border: thick $primary; }
    Dialog Static.title { text-style: bold; margin-bottom: 1; }
    """
    BINDINGS = [Binding("escape,enter,q", "close", "Close")]

    def __init__(self, title: str, body: str, *, error: bool = True) -> None:
        super().__init__(classes="" if error else "info")
        self.title_text, self.body = title, body

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, classes="title", markup=False)
            yield Static(self.body, markup=False)
            yield Static("[dim]enter / esc closes[/dim]")

    def action_close(self) -> None:
        self.dismiss(None)
