"""A password asked in the dashboard: ModalScreen[str | None] with a hidden Input (None = cancelled).

``PasswordAsker`` is what the app installs with ``workbench.secrets.set_asker``: a worker thread that
needs a password calls it and waits; the modal opens on the UI thread. No thread reads the terminal.
"""
from __future__ import annotations

import threading
from concurrent.futures import Future

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from workbench.errors import WorkbenchError


class PasswordScreen(ModalScreen[str | None]):
    DEFAULT_CSS = """
    PasswordScreen { align: center middle; }
    PasswordScreen > Vertical { width: 80; height: auto; border: thick $primary; background: $surface; padding: 1 2; }
    PasswordScreen .prompt { margin-bottom: 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, prompt: str) -> None:
        super().__init__()
        self.prompt = prompt

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.prompt.rstrip(": ") + ":", classes="prompt", markup=False)
            yield Input(password=True, id="password", placeholder="password (hidden)")
            yield Static("[dim]enter: use it for this session · esc: cancel[/dim]")

    def on_mount(self) -> None:
        self.query_one("#password", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._answer(event.value)

    def action_cancel(self) -> None:
        self._answer(None)

    def _answer(self, value: str | None) -> None:
        stack = self.app.screen_stack
        if len(stack) > 1 and hasattr(stack[-2], "quiet_resume"):
            stack[-2].quiet_resume = True      # the screen below keeps its worker (see WorkbenchScreen)
        self.dismiss(value)


class PasswordAsker:
    """``asker(prompt) -> password`` for worker threads of ``app``; ``close()`` releases any still waiting."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._waiting: set[Future] = set()
        self._lock = threading.Lock()
        self._closed = False

    def __call__(self, prompt: str) -> str:
        answer: Future = Future()
        with self._lock:
            if self._closed:
                raise WorkbenchError("SECRET_MISSING", "the dashboard is closing")
            self._waiting.add(answer)
        try:
            self.app.call_from_thread(self.app.push_screen, PasswordScreen(prompt), answer.set_result)
        except RuntimeError:         # the UI thread itself cannot wait for its own modal
            raise WorkbenchError("SECRET_MISSING", "asked on the dashboard's own thread") from None
        try:
            value = answer.result()
        finally:
            with self._lock:
                self._waiting.discard(answer)
        if value is None:
            raise WorkbenchError("SECRET_MISSING", "the password prompt was cancelled")
        return value

    def close(self) -> None:
        with self._lock:
            self._closed = True
            waiting, self._waiting = self._waiting, set()
        for answer in waiting:
            if not answer.done():
                answer.set_result(None)
