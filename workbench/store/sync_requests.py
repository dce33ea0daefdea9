"""The sync_requests table: a change made through the workbench asks the agent to sync its operators.

The service layer calls ``request_sync(store, operator_ids, reason)`` (or ``queue(con, ...)`` inside its own
write transaction, so the change and its request commit together) after a change that affects operators:
``operators.switches.set_contact_sync`` (enable/disable), ``operators.csv_import.import_operators`` (a written
import changing contact_sync or e-mail), ``contacts_import.import_contacts`` (operators on the changed contacts'
teams) and ``store.settings_table.update`` (a planning setting: every enabled operator). So every front end
(CLI, dashboard, notebooks) queues the same requests. The running agent polls
``pending`` about once a second, coalesces the requests per operator and syncs each affected mailbox once.
``operator_ids=None`` asks for every enabled operator. Without a running agent the rows simply wait
(``workbench agent --once`` processes them too).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

import pandas as pd

from workbench.store import Store, now


@dataclass(frozen=True)
class SyncRequest:
    request_id: int
    requested_at: datetime
    operator_id: str | None          # None = every enabled operator
    reason: str
    source: str


def _ids(operator_ids: Iterable[str] | None) -> list[str | None]:
    return [None] if operator_ids is None else list(dict.fromkeys(
        str(i).strip() for i in operator_ids if str(i).strip()))


def queue(con: Any, operator_ids: Iterable[str] | None, reason: str, *, source: str = "cli") -> list[int]:
    """``request_sync`` on an open write connection (inside the caller's transaction).

    One INSERT … SELECT over the ids registered as a relation (an import queues 100,000 at once);
    request ids follow the order of ``operator_ids``.
    """
    ids = _ids(operator_ids)
    if not ids:
        return []
    incoming = pd.DataFrame({"pos": range(len(ids)), "operator_id": pd.Series(ids, dtype=object)})
    con.register("_incoming_requests", incoming)
    try:
        rows = con.execute("INSERT INTO sync_requests (requested_at, operator_id, reason, source) "
                           "SELECT ?, operator_id, ?, ? FROM _incoming_requests ORDER BY pos "
                           "RETURNING request_id", [now(), reason, source]).fetchall()
    finally:
        con.unregister("_incoming_requests")
    return sorted(int(r[0]) for r in rows)


def request_sync(store: Store, operator_ids: Iterable[str] | None, reason: str, *, source: str = "cli") -> list[int]:
    """Queue a sync of ``operator_ids`` (None = all enabled operators); returns the request ids."""
    ids = _ids(operator_ids)
    if not ids:
        return []
    with store.write() as con:
        return queue(con, None if ids == [None] else ids, reason, source=source)


def claim_pending(store: Store, limit: int = 1000) -> list[SyncRequest]:
    """Take the requests nobody has taken yet (marks them picked)."""
    with store.write() as con:
        return claim(con, limit)


def claim(con: Any, limit: int = 1000) -> list[SyncRequest]:
    """``claim_pending`` inside a caller's transaction."""
    rows = con.execute("SELECT request_id, requested_at, operator_id, reason, source FROM sync_requests "
                       "WHERE picked_at IS NULL ORDER BY request_id LIMIT ?", [limit]).fetchall()
    if rows:
        con.execute(f"UPDATE sync_requests SET picked_at = ? WHERE request_id IN "
                    f"({', '.join('?' for _ in rows)})", [now(), *[r[0] for r in rows]])
    return [SyncRequest(*r) for r in rows]


def has_pending(store: Store) -> bool:
    return bool(store.scalar("SELECT count(*) FROM sync_requests WHERE picked_at IS NULL"))


def finish(store: Store, request_ids: Iterable[int], outcome: str) -> None:
    ids = list(request_ids)
    if not ids:
        return
    with store.write() as con:
        con.execute(f"UPDATE sync_requests SET done_at = ?, outcome = ? WHERE request_id IN "
                    f"({', '.join('?' for _ in ids)})", [now(), outcome, *ids])


def release_unfinished(store: Store) -> int:
    """Put requests picked by an agent that stopped before finishing them back in the queue."""
    with store.write() as con:
        n = con.execute("SELECT count(*) FROM sync_requests WHERE picked_at IS NOT NULL AND done_at IS NULL"
                        ).fetchone()[0]
        con.execute("UPDATE sync_requests SET picked_at = NULL WHERE picked_at IS NOT NULL AND done_at IS NULL")
    return int(n)
