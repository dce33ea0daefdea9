"""The incremental fetch: changes since the stored sync state into the mailbox snapshot.

Each page's changes are committed together with the state after the page, so a stored state never gets
ahead of the changes it covers. Without a state (the first sync, or one the server refused) the whole
folder arrives as creates and replaces the snapshot in one transaction; a refused state is journaled
(``sync-state-reset``, with the backend's code, e.g. GRAPH_DELTA_RESET) in that transaction. The store is
never held while a page is read from Exchange.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

from workbench.agent import state
from workbench.agent.events import Log
from workbench.mailbox import Mailbox, StateInvalid
from workbench.store import Store
from workbench.store.sync_tables import apply_snapshot_changes, journal, replace_snapshot


@dataclass(frozen=True)
class Fetched:
    pages: int = 0
    changes: int = 0


def fetch_increment(store: Store, op: str, box: Mailbox, batch_size: int, stop: threading.Event,
                    log: Log) -> Fetched:
    """SyncFolderItems from the stored state into the snapshot; the state advances with each page's commit."""
    stored = store.scalar("SELECT sync_state FROM mailbox_state WHERE operator_id = ?", [op])
    if stored:
        try:
            return _from_state(store, op, box, stored, batch_size, stop)
        except StateInvalid as reset:
            log("sync-state-reset", operator=op, why="Exchange refused the stored sync state", code=reset.code)
            return _whole_folder(store, op, box, batch_size, stop, reset=reset)
    return _whole_folder(store, op, box, batch_size, stop)


def _from_state(store: Store, op: str, box: Mailbox, sync_state: str, batch_size: int,
                stop: threading.Event) -> Fetched:
    pages = changes = 0
    for page in box.changes_since(sync_state, batch_size):
        with store.write() as con:
            apply_snapshot_changes(con, op, page.upserts, page.deleted_item_ids)
            state.save_sync_state(con, op, box.address, page.state)
        pages += 1
        changes += page.changes
        if stop.is_set() and not page.last:
            break
    return Fetched(pages, changes)


def _whole_folder(store: Store, op: str, box: Mailbox, batch_size: int, stop: threading.Event,
                  reset: StateInvalid | None = None) -> Fetched:
    rows: dict[str, dict] = {}
    final = None
    pages = changes = 0
    for page in box.changes_since(None, batch_size):
        for row in page.upserts:
            rows[row["item_id"]] = row
        for item_id in page.deleted_item_ids:
            rows.pop(item_id, None)
        final = page.state
        pages += 1
        changes += page.changes
        if stop.is_set() and not page.last:
            return Fetched(pages, changes)        # nothing stored: the next run starts over
    with store.write() as con:
        replace_snapshot(con, op, rows.values())
        state.save_sync_state(con, op, box.address, final)
        if reset is not None:
            journal(con, None, [{"operator_id": op, "action": "sync-state-reset", "outcome": "ok", "code": reset.code,
                                 "detail": f"{box.address}: the stored sync state was refused ({reset}); the whole "
                                           f"folder was read again ({len(rows)} contacts)"[:500]}])
    return Fetched(pages, changes)
