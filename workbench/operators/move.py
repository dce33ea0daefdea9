"""Moving operators between backends (`operators move ID… --to graph|ews [--dry-run]`): an operator's mailbox
moved to Exchange Online (or back) keeps its links, its snapshot and its journal.

EWS and Graph name the same item with different ids, so every stored item id of the operator (links and
snapshot) is translated with Graph's translateExchangeIds (EWS id <-> REST immutable id) before the backend
override changes, all in one transaction; the change keys stay (both APIs report the same change key), so an
edit made in between is still seen as an edit by the next sync, and nothing is created twice. The per-mailbox
incremental state (EWS sync state, subscription) is dropped: the next sync starts with a snapshot. A dry run
translates (read only) and writes nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from workbench.errors import WorkbenchError
from workbench.settings import BACKENDS
from workbench.store import Store, now


@dataclass
class MoveResult:
    operator_id: str
    email: str
    source: str
    target: str
    translated: int = 0
    missing: list[str] = field(default_factory=list)      # stored ids the mailbox no longer holds
    moved: bool = False

    def describe(self, *, dry_run: bool) -> str:
        """One line for the CLI and the dashboard."""
        if self.source == self.target:
            return f"{self.operator_id}: already on {self.target}"
        verb = "would move" if dry_run else "moved"
        return (f"{self.operator_id} ({self.email}): {verb} {self.source} -> {self.target}; {self.translated} item "
                f"ids translated, {len(self.missing)} no longer in the mailbox")


def _stored_ids(store: Store, op: str) -> list[str]:
    return [r[0] for r in store.rows("SELECT item_id FROM links WHERE operator_id = ? UNION "
                                     "SELECT item_id FROM exchange_contacts WHERE operator_id = ? ORDER BY 1",
                                     [op, op])]


def _apply(con, r: MoveResult, mapping: dict[str, str | None], org_backend: str, source: str) -> None:
    pairs = [(old, new) for old, new in mapping.items() if new]
    if pairs:
        con.execute("CREATE OR REPLACE TEMP TABLE id_moves (old_id VARCHAR, new_id VARCHAR)")
        con.executemany("INSERT INTO id_moves VALUES (?, ?)", pairs)
        for table in ("links", "exchange_contacts"):
            con.execute(f"UPDATE {table} SET item_id = m.new_id FROM id_moves m "
                        f"WHERE {table}.operator_id = ? AND {table}.item_id = m.old_id", [r.operator_id])
        con.execute("DROP TABLE id_moves")
    con.execute("UPDATE mailbox_state SET sync_state = NULL, subscription_id = NULL, watermark = NULL "
                "WHERE operator_id = ?", [r.operator_id])
    con.execute("DELETE FROM operator_backends WHERE operator_id = ?", [r.operator_id])
    if r.target != org_backend:
        con.execute("INSERT INTO operator_backends VALUES (?, ?, ?, ?)", [r.operator_id, r.target, now(), source])
    con.execute("INSERT INTO sync_log (logged_at, operator_id, action, outcome, detail) VALUES (?, ?, ?, ?, ?)",
                [now(), r.operator_id, "move-backend", "ok",
                 f"moved from {r.source} to {r.target}: {r.translated} item ids translated, {len(r.missing)} no "
                 "longer in the mailbox"])


def other_backend(store: Store, operator_id: str) -> str:
    """Where an operator moves by default: the backend not serving its mailbox now."""
    from workbench.store.settings_table import load
    email = store.scalar("SELECT email FROM operators WHERE operator_id = ?", [operator_id])
    if email is None:
        raise WorkbenchError("OPERATOR_NOT_FOUND", f"unknown operator id(s): {operator_id}; nothing was moved")
    current = load(store).backend_for(email)
    return next(kind for kind in BACKENDS if kind != current)


def move_operators(store: Store, ids: Iterable[str], target: str, *, dry_run: bool = False,
                   source: str = "cli") -> list[MoveResult]:
    """Translate and switch every operator, or (dry run) say what would happen. Unknown id: OPERATOR_NOT_FOUND,
    nothing done; an operator already on ``target`` is reported unmoved."""
    from workbench.backends import translate_item_ids
    from workbench.store.settings_table import load
    if target not in BACKENDS:
        raise WorkbenchError("USAGE", f"--to={target!r}: must be one of {', '.join(BACKENDS)}")
    wanted = list(dict.fromkeys(i.strip() for i in ids if i.strip()))
    if not wanted:
        raise WorkbenchError("USAGE", "give at least one operator id")
    settings = load(store)
    known = dict(store.rows(f"SELECT operator_id, email FROM operators WHERE operator_id IN "
                            f"({', '.join('?' for _ in wanted)})", wanted))
    missing = [i for i in wanted if i not in known]
    if missing:
        raise WorkbenchError("OPERATOR_NOT_FOUND", f"unknown operator id(s): {', '.join(missing)}; nothing was moved")
    results = []
    for op in wanted:
        r = MoveResult(op, known[op], settings.backend_for(known[op]), target)
        results.append(r)
        if r.source == target:
            continue
        mapping = translate_item_ids(settings, r.email, _stored_ids(store, op), target)
        r.translated = sum(1 for v in mapping.values() if v)
        r.missing = sorted(k for k, v in mapping.items() if not v)
        if not dry_run:
            with store.write() as con:
                _apply(con, r, mapping, settings.backend, source)
            r.moved = True
    return results
