"""The agent's reads and writes of the store: which mailboxes it serves and their mailbox_state rows.

mailbox_state (one row per operator) is what the dashboard and notebooks show of the agent: the push
subscription (id, watermark, created, callback URL and frequency), the last notification heard, the
SyncFolderItems state, last sync / success, failure streak and the next slot.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from workbench.agent.subscriptions import SubscriptionRecord
from workbench.store import Store
from workbench.store.operators_table import LATEST_CHECK, SYNC_MAILBOX, VERIFIED_SQL
from workbench.settings import ExchangeSettings
from workbench.store.settings_table import operator_backends_in, typed, values_in
from workbench.store.sync_requests import SyncRequest, claim

# Enabled operators, with the mailbox address they sync (SYNC_MAILBOX, as the planner) and whether their
# latest check found the mailbox verified.
_SERVED = f"""
    SELECT o.operator_id, m.mailbox, coalesce({VERIFIED_SQL}, false)
    FROM ({LATEST_CHECK}) o JOIN ({SYNC_MAILBOX}) m USING (operator_id)
    WHERE o.contact_sync
    ORDER BY o.operator_id
"""


@dataclass(frozen=True)
class Served:
    mailbox: str
    verified: bool


@dataclass(frozen=True)
class MailboxRow:
    operator_id: str
    mailbox_address: str | None
    sync_state: str | None
    subscription_id: str | None
    watermark: str | None
    subscribed_at: datetime | None
    last_notification_at: datetime | None
    subscription_url: str | None
    subscription_frequency: int | None

    def record(self) -> SubscriptionRecord:
        return SubscriptionRecord(self.operator_id, self.subscription_id, self.subscribed_at,
                                  self.last_notification_at, self.subscription_url, self.subscription_frequency)


def served_mailboxes(store: Store) -> dict[str, Served]:
    """operator_id -> (mailbox address, verified) for every enabled operator."""
    with store.read() as con:
        return _served(con)


def _served(con: Any) -> dict[str, Served]:
    return {op: Served(mb, bool(ok)) for op, mb, ok in con.execute(_SERVED).fetchall()}


@dataclass(frozen=True)
class Polled:
    """What one tick of the agent's loop reads: the settings, the served mailboxes, the sync requests it
    claimed."""
    settings: ExchangeSettings
    served: dict[str, Served]
    requests: list[SyncRequest]


def poll(store: Store, heard: "dict[str, tuple[datetime, str | None]]") -> Polled:
    """One tick's store work in one transaction (each store operation opens the file and waits for the
    others: a tick of four of them kept the mailbox jobs waiting): the notifications heard, then the reads.
    Settings that break a rule (SETTINGS_INCOMPLETE) roll it all back: nothing is claimed."""
    with store.write() as con:
        save_heard(con, heard)
        return Polled(typed(values_in(con), operator_backends_in(con)), _served(con), claim(con))


def mailbox_rows(store: Store) -> dict[str, MailboxRow]:
    rows = store.rows("SELECT operator_id, mailbox_address, sync_state, subscription_id, watermark, subscribed_at, "
                      "last_notification_at, subscription_url, subscription_frequency FROM mailbox_state")
    return {r[0]: MailboxRow(*r) for r in rows}


def _ensure(con: Any, operator_id: str, mailbox: str | None = None) -> None:
    con.execute("INSERT OR IGNORE INTO mailbox_state (operator_id, mailbox_address) VALUES (?, ?)",
                [operator_id, mailbox])


def save_subscription(store: Store, operator_id: str, mailbox: str, subscription_id: str, watermark: str,
                      at: datetime, url: str, frequency: int) -> None:
    with store.write() as con:
        _ensure(con, operator_id, mailbox)
        con.execute("UPDATE mailbox_state SET subscription_id = ?, watermark = ?, subscribed_at = ?, "
                    "last_notification_at = NULL, subscription_url = ?, subscription_frequency = ?, "
                    "mailbox_address = ? WHERE operator_id = ?",
                    [subscription_id, watermark, at, url, frequency, mailbox, operator_id])


def clear_subscription(store: Store, operator_id: str) -> None:
    with store.write() as con:
        con.execute("UPDATE mailbox_state SET subscription_id = NULL, watermark = NULL, subscribed_at = NULL, "
                    "subscription_url = NULL, subscription_frequency = NULL WHERE operator_id = ?", [operator_id])


def save_heard(con: Any, heard: dict[str, tuple[datetime, str | None]]) -> None:
    """Last notification time (and watermark) per operator, for the notifications heard since the last call."""
    for op, (at, watermark) in heard.items():
        con.execute("UPDATE mailbox_state SET last_notification_at = ?, watermark = coalesce(?, watermark) "
                    "WHERE operator_id = ?", [at, watermark, op])


def save_sync_state(con: Any, operator_id: str, mailbox: str, sync_state: str | None) -> None:
    """Inside the transaction that commits the changes the state covers."""
    _ensure(con, operator_id, mailbox)
    con.execute("UPDATE mailbox_state SET sync_state = ? WHERE operator_id = ?", [sync_state, operator_id])


def save_next_slot(store: Store, operator_ids: list[str], at: datetime) -> None:
    if not operator_ids:
        return
    with store.write() as con:
        for op in operator_ids:
            _ensure(con, op)
        con.execute(f"UPDATE mailbox_state SET next_slot_at = ? WHERE operator_id IN "
                    f"({', '.join('?' for _ in operator_ids)})", [at, *operator_ids])


def mark_failure(store: Store, operator_id: str, mailbox: str | None, code: str) -> None:
    from workbench.store.sync_tables import mark_mailbox
    with store.write() as con:
        mark_mailbox(con, operator_id, mailbox, ok=False, code=code)


def mark_success(store: Store, operator_id: str, mailbox: str | None) -> None:
    from workbench.store.sync_tables import mark_mailbox
    with store.write() as con:
        mark_mailbox(con, operator_id, mailbox, ok=True, code=None)


def linked_operators(store: Store, contact_ids: Any) -> set[str]:
    """The enabled operators holding a link to any of ``contact_ids`` (their mailboxes carry a copy)."""
    ids = sorted({str(c) for c in contact_ids})
    if not ids:
        return set()
    return {r[0] for r in store.rows(
        "SELECT DISTINCT l.operator_id FROM links l JOIN operators o USING (operator_id) "
        "WHERE o.contact_sync AND l.contact_id IN (SELECT unnest(?::VARCHAR[]))", [ids])}
