"""The settings table and its change history."""
from __future__ import annotations

import dataclasses
from typing import Any

from workbench.errors import WorkbenchError
from workbench.settings import SETTINGS, ExchangeSettings, RuleBroken, check_set, normalise
from workbench.store import Store, now

#: settings the planner reads: changing one queues a sync of every enabled operator
PLANNING_KEYS = ("sync_direction", "conflict_policy", "include_private", "sync_category")


def stored_values(store: Store) -> dict[str, str]:
    """Every setting's text value, defaults filled in."""
    with store.read() as con:
        return values_in(con)


def values_in(con: Any) -> dict[str, str]:
    """``stored_values`` inside a caller's transaction."""
    rows = dict(con.execute("SELECT key, value FROM settings").fetchall())
    return {key: rows.get(key, s.default) for key, s in SETTINGS.items()}


def operator_backends_in(con: Any) -> tuple[tuple[str, str], ...]:
    """(lower-case mailbox, backend) of the operators whose mailbox another backend serves (hybrid), inside a
    caller's transaction."""
    return tuple(tuple(r) for r in con.execute("SELECT lower(o.email), b.backend FROM operators o "
                                               "JOIN operator_backends b USING (operator_id) "
                                               "ORDER BY operator_id").fetchall())


def org_backend_in(con: Any) -> str:
    """The organisation's ``backend`` setting (its default when never set), inside a caller's transaction."""
    row = con.execute("SELECT value FROM settings WHERE key = 'backend'").fetchone()
    return row[0] if row else SETTINGS["backend"].default


def effective_backend_sql(override: str = "b.backend") -> str:
    """SQL for the backend serving an operator's mailbox: its ``operator_backends`` row (``override``), else the
    organisation's setting; ``ExchangeSettings.backend_for`` and ``org_backend_in`` in SQL."""
    default = SETTINGS["backend"].default
    return f"coalesce({override}, (SELECT value FROM settings WHERE key = 'backend'), '{default}')"


def operator_backends(store: Store) -> tuple[tuple[str, str], ...]:
    """``operator_backends_in`` in a read of its own."""
    with store.read() as con:
        return operator_backends_in(con)


def load(store: Store) -> ExchangeSettings:
    """The typed set, with the operators' backend overrides; SETTINGS_INCOMPLETE if a stored value breaks its
    rule (stored by an older version)."""
    with store.read() as con:
        return typed(values_in(con), operator_backends_in(con))


def typed(values: dict[str, str], overrides: tuple[tuple[str, str], ...] = ()) -> ExchangeSettings:
    """The typed set of stored text values and backend overrides (SETTINGS_INCOMPLETE as ``load``)."""
    try:
        settings = ExchangeSettings.from_text(values)
    except RuleBroken:
        in_use = {kind for _address, kind in overrides}
        raise WorkbenchError("SETTINGS_INCOMPLETE", "; ".join(check_set(values, in_use))) from None
    return dataclasses.replace(settings, operator_backends=overrides)


def update(store: Store, pairs: dict[str, str], *, source: str = "cli") -> dict[str, tuple[str, str]]:
    """Validate all pairs, then write them in one transaction; returns {key: (old, new)} for changes.

    Raises ValidationError (nothing written) if any pair is refused. A change of a planning setting
    (``PLANNING_KEYS``) queues a sync request for every enabled operator in the same transaction.
    """
    clean = normalise(pairs)
    changed: dict[str, tuple[str, str]] = {}
    with store.write() as con:
        current = dict(con.execute("SELECT key, value FROM settings").fetchall())
        stamp = now()
        for key, value in clean.items():
            old = current.get(key, SETTINGS[key].default)
            if old == value:
                continue
            con.execute("INSERT OR REPLACE INTO settings VALUES (?, ?, ?)", [key, value, stamp])
            con.execute("INSERT INTO settings_changes (changed_at, key, old_value, new_value, source) "
                        "VALUES (?, ?, ?, ?, ?)", [stamp, key, old, value, source])
            changed[key] = (old, value)
        planning = [k for k in PLANNING_KEYS if k in changed]
        if planning:
            from workbench.store.sync_requests import queue
            queue(con, None, "settings changed: " + ", ".join(planning), source=source)
    return changed


def history(store: Store):
    return store.df("SELECT changed_at, key, old_value, new_value, source FROM settings_changes ORDER BY change_id")
