"""Per-operator contact sync switch (`operators enable|disable ID...`).

A change queues a sync request for the operators whose flag changed (in the same transaction), so the
agent subscribes and syncs an enabled mailbox at once, and ends a disabled one's subscription.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from workbench.operators.ids import require_known, wanted_ids
from workbench.store import Store, now


@dataclass
class SwitchResult:
    enabled: bool
    changed: list[str] = field(default_factory=list)     # ids whose flag changed
    unchanged: list[str] = field(default_factory=list)   # ids that already had the wanted value


def set_contact_sync(store: Store, ids: Iterable[str], enabled: bool, *, source: str = "cli") -> SwitchResult:
    """Set contact_sync for every id, all or nothing: an unknown id writes nothing (OPERATOR_NOT_FOUND)."""
    wanted = wanted_ids(ids)
    result = SwitchResult(enabled)
    with store.write() as con:
        placeholders = ", ".join("?" for _ in wanted)
        current = dict(con.execute(f"SELECT operator_id, contact_sync FROM operators "
                                   f"WHERE operator_id IN ({placeholders})", wanted).fetchall())
        require_known(wanted, current)
        result.changed = [i for i in wanted if bool(current[i]) != enabled]
        result.unchanged = [i for i in wanted if bool(current[i]) == enabled]
        if result.changed:
            ph = ", ".join("?" for _ in result.changed)
            con.execute(f"UPDATE operators SET contact_sync = ?, updated_at = ?, source = ? "
                        f"WHERE operator_id IN ({ph})", [enabled, now(), source, *result.changed])
            from workbench.store.sync_requests import queue
            queue(con, result.changed, f"contact sync {'enabled' if enabled else 'disabled'}", source=source)
    return result
