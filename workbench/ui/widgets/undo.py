"""Undo a run's deletes from the dashboard: a confirmation naming how many contacts in how many mailboxes,
then ``workbench.sync.undo.undo_run`` in a thread worker; the outcome is a toast."""
from __future__ import annotations

from typing import Any, Callable

from workbench.ui.contacts_data import undo_counts
from workbench.ui.widgets.confirm import Confirm


def ask_and_undo(screen: Any, run_id: int, *, done: Callable[[], None] | None = None) -> None:
    """Count (worker), confirm (modal), restore (worker), report (toast); ``done`` runs after a restore."""
    app = screen.app

    def count() -> None:
        contacts, mailboxes = undo_counts(app.store, run_id)
        app.call_from_thread(confirm, contacts, mailboxes)

    def confirm(contacts: int, mailboxes: int) -> None:
        if not contacts:
            app.notify(f"run {run_id}: nothing to undo (no delete left to restore)")
            return
        question = (f"Restore the {contacts} contact(s) in {mailboxes} mailbox(es) that run {run_id} deleted?\n"
                    "Each goes back from Deleted Items / Recoverable Items, or is recreated with its CRM id; the "
                    "operator rejoins the contact's team.")
        app.push_screen(Confirm(question, yes="Restore"), lambda ok: ok and start())

    def start() -> None:
        screen.run_worker(restore, thread=True, exclusive=True, exit_on_error=False, group="undo")

    def restore() -> None:
        from workbench.sync.undo import undo_run, undo_summary
        result = undo_run(app.store, run_id)
        app.call_from_thread(app.notify, undo_summary(result), title="Undo",
                             severity="warning" if result.failed else "information")
        if done is not None:
            app.call_from_thread(done)

    screen.run_worker(count, thread=True, exclusive=True, exit_on_error=False, group="undo")
