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

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

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


class WorkbenchApp(App[None]):
    TITLE = "Contact Sync Workbench"
    CSS_PATH = "app.tcss"
    MODES = MODE_SCREENS
    DEFAULT_MODE = "overview"
    BINDINGS = [
        Binding("1", "switch_mode('overview')", "Overview"),
        Binding("2", "switch_mode('settings')", "Settings"),
        Binding("3", "switch_mode('operators')", "Operators"),
        Binding("4", "switch_mode('preview')", "Preview"),
        Binding("5", "switch_mode('sync')", "Sync"),
        Binding("6", "switch_mode('log')", "Log"),
        Binding("7", "switch_mode('contacts')", "Contacts", show=False),   # in help and the palette
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

    def on_mount(self) -> None:
        from workbench import secrets
        self._asker = PasswordAsker(self)
        secrets.set_asker(self._asker)       # a missing password is asked in a modal, never on the terminal
        self.switch_mode(self.start_mode)

    def on_unmount(self) -> None:
        from workbench import secrets
        self._asker.close()                  # first release a worker still waiting for an answer
        secrets.set_asker(None)

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
