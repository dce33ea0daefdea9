"""The dashboard app: seven modes over one store, the same services as the CLI.

``WorkbenchApp(store, clock=...)``: the clock is injectable so snapshots and
tests run with frozen time; every "… ago" and every default time on screen
comes from it. All store and Exchange work happens in thread workers
(screens' ``@work(thread=True, ...)`` methods) that post messages back; a
worker that fails becomes an error toast ``CODE: title — remedy``.
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable, Iterable

from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Input, TextArea

from workbench.store import Store, now
from workbench.ui.data import error_headline, store_label
from workbench.ui.screens.contacts import ContactsScreen
from workbench.ui.screens.log import LogScreen
from workbench.ui.screens.operators import OperatorsScreen
from workbench.ui.screens.overview import OverviewScreen
from workbench.ui.screens.preview import PreviewScreen
from workbench.ui.screens.settings import SettingsScreen
from workbench.ui.screens.sync import SyncScreen
from workbench.ui.widgets.help import HelpScreen
from workbench.ui.widgets.password import PasswordAsker

MODE_SCREENS: dict[str, type[Screen]] = {
    "overview": OverviewScreen,
    "settings": SettingsScreen,
    "operators": OperatorsScreen,
    "preview": PreviewScreen,
    "sync": SyncScreen,
    "log": LogScreen,
    "contacts": ContactsScreen,
}


MODE_ORDER = ("overview", "settings", "operators", "preview", "sync", "log", "contacts")
SCREEN_KEYS = {str(number): mode for number, mode in enumerate(MODE_ORDER, start=1)}
KEY_WAIT_SECONDS = 5.0      # the longest the keys after a key wait for it (under load a screen's mount took > 1 s)


class WorkbenchApp(App[None]):
    TITLE = "Contact Sync Workbench"
    CSS_PATH = "app.tcss"
    MODES = MODE_SCREENS
    DEFAULT_MODE = "overview"
    BINDINGS = [
        *(Binding(key, f"switch_mode('{mode}')", mode.title(), show=mode != "contacts")   # 7: help and palette
          for key, mode in SCREEN_KEYS.items()),
        Binding("question_mark,f1", "help", "Help"),
    ]

    def __init__(self, store: Store, *, clock: Callable[[], datetime] = now,
                 banner: str = "", start_mode: str = "overview") -> None:
        super().__init__()
        self.store = store
        self.clock = clock
        self.banner = banner
        self.start_mode = start_mode
        self.sub_title = " · ".join(part for part in (store_label(store.path), banner) if part)
        self._held: list[events.Key] | None = None      # keys typed while the key before them is handled
        self._holds = 0
        self._travelling: tuple[events.Key, int] | None = None     # that key on its way, and its hold

    def on_mount(self) -> None:
        from workbench import secrets
        self._asker = PasswordAsker(self)
        secrets.set_asker(self._asker)       # a missing password is asked in a modal, never on the terminal
        self.switch_mode(self.start_mode)

    def on_unmount(self) -> None:
        from workbench import secrets
        self._asker.close()                  # first release a worker still waiting for an answer
        secrets.set_asker(None)

    async def on_event(self, event: events.Event) -> None:
        """Keys typed in a burst are handled in turn, each after what the one before it did. Textual forwards
        every key to the focused widget at once, and a binding's effect (a screen switch, a focus change) is a
        callback queued behind the keys already waiting: so ``7jose`` sent ``jose`` to the Overview's table and
        Esc then ``3`` in the Contacts search typed a 3 there. Here each key holds the keys after it until it
        is done: stopped by the widget it went to, or back at the app unhandled and its binding's callbacks
        run; a screen key until its screen has mounted and taken its focus."""
        if not isinstance(event, events.Key):
            await super().on_event(event)
            return
        if self._travelling is not None and event is self._travelling[0]:
            await self._came_back(event, self._travelling[1])
            return
        if self._held is not None and not event.is_forwarded:
            self._held.append(event)
            return
        if event.is_forwarded:
            await super().on_event(event)
            return
        hold = self._hold()
        mode = self._screen_key(event)
        if mode is not None:
            self.switch_mode(mode)
            # the screen's mount asks the app for its focus (``focus()`` is a callback on the app's queue); the
            # release is queued behind it
            self.screen.call_later(self.call_later, self._release, hold)
            return
        target = self.focused or self.screen
        self._travelling = (event, hold)
        await super().on_event(event)
        if event.is_forwarded:
            target.call_later(self._left, event, hold)          # runs once the target has handled the key
        else:                                                   # an app binding with priority took it here
            self._travelling = None
            self.call_later(self._release, hold)

    def _hold(self) -> int:
        """Hold the keys that come next; a timer ends the wait if the release never comes."""
        self._held, self._holds = [], self._holds + 1
        hold = self._holds
        self.set_timer(KEY_WAIT_SECONDS, lambda: self._release(hold))
        return hold

    def _left(self, event: events.Key, hold: int) -> None:
        """On the key's target, after it handled the key: stopped there, the next key may go; else it bubbles
        up and comes back to ``on_event``."""
        if event._stop_propagation and self._travelling == (event, hold):
            self._travelling = None
            self.call_later(self._release, hold)

    async def _came_back(self, event: events.Key, hold: int) -> None:
        """The key bubbled back unhandled: its binding runs now, and the next key waits behind the callbacks
        that binding queued (``focus()`` is one)."""
        self._travelling = None
        await super().on_event(event)
        self.call_later(self._release, hold)

    async def _release(self, hold: int) -> None:
        if hold != self._holds or self._held is None:
            return
        held, self._held = self._held, None
        for index, key in enumerate(held):
            if self._held is not None:       # the key just handled holds the rest in turn
                self._held.extend(held[index:])
                return
            await self.on_event(key)

    def _screen_key(self, event: events.Event) -> str | None:
        """The mode a key switches to, when it would reach the app's binding: no text field has the focus (it
        takes the digit) and the mode's own screen is shown (not a dialog or a pushed screen)."""
        if not isinstance(event, events.Key) or len(self.screen_stack) > 1:
            return None
        mode = SCREEN_KEYS.get(event.key)
        if mode not in self.MODES or isinstance(self.focused, (Input, TextArea)):
            return None
        return mode

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "switch_mode" and parameters and parameters[0] not in self.MODES:
            return None        # shown greyed out until the service behind the screen exists
        return True

    def start_sync(self, operators: list[str] | None, plan: object = None) -> None:
        """Switch to the Sync screen and run the sync there (from Preview's apply: ``plan`` is the previewed one)."""
        def go() -> None:
            self.screen.start(operators, plan=plan)
        self.switch_mode("sync")
        self.call_after_refresh(go)

    # --- errors from workers ---------------------------------------------------
    def show_error(self, exc: BaseException) -> None:
        detail = getattr(exc, "detail", "")
        message = error_headline(exc)
        if detail:
            message += "\n" + "\n".join(detail.splitlines()[:4])
        self.notify(message, title="Failed", severity="error", timeout=12, markup=False)

    # --- help and palette --------------------------------------------------------
    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        labels = {"overview": "Is sync healthy? Counts, last runs, failures with remedies",
                  "settings": "Edit and check the Exchange settings; keystore",
                  "operators": "Filter, toggle, verify and import operators",
                  "preview": "The sync plan, grouped by action, before/after per field",
                  "sync": "Run a sync with live progress; cancel",
                  "log": "The journal, failure detail, notifications sent",
                  "contacts": "Find a contact by any key; its story across runs; both sides field by field"}
        for mode in MODE_ORDER:
            if mode in self.MODES:
                yield SystemCommand(f"Go to {mode.title()}", labels[mode],
                                    lambda m=mode: self.switch_mode(m))
        for title, help_, mode, action in self._screen_commands():
            if mode in self.MODES:
                yield SystemCommand(title, help_, lambda m=mode, a=action: self._run_on(m, a))
        yield SystemCommand("Help", "Screens and keys", self.action_help)

    @staticmethod
    def _screen_commands() -> list[tuple[str, str, str, str]]:
        return [
            ("Save settings", "Validate every field and save all or nothing", "settings", "save"),
            ("Fetch and import server certificate", "Keystore: trust the Exchange server", "settings",
             "fetch_cert"),
            ("Verify all operators", "Check every enabled operator's mailbox", "operators", "verify_all"),
            ("Import operators CSV", "Review the file, then commit", "operators", "import_csv"),
            ("Preview sync (all operators)", "Compute the plan without writing", "preview", "preview_all"),
            ("Apply the previewed plan", "Run the sync after a confirmation", "preview", "apply"),
            ("Start sync", "Run the sync with live progress", "sync", "start"),
            ("Cancel sync", "Stop the running sync after the current batch", "sync", "cancel"),
            ("Failed journal entries", "The log filtered to failures", "log", "failed_only"),
            ("Undo a run's deletes", "Log, Runs tab: restore what the selected run deleted, after a confirmation",
             "log", "undo_run"),
            ("Find a contact", "Search by name, e-mail, company, phone, CRM id or Exchange item id", "contacts",
             "focus_search"),
        ]

    def _run_on(self, mode: str, action: str) -> None:
        self.switch_mode(mode)
        self.call_after_refresh(lambda: self.screen.run_action(action))


def run_dashboard(store: Store, *, clock: Callable[[], datetime] = now, banner: str = "") -> None:
    WorkbenchApp(store, clock=clock, banner=banner).run()
