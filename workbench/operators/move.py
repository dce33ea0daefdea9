"""Moving operators between backends (`operators move ID… --to graph|ews`, `operators move --csv FILE`, the
dashboard's `m`): an operator's mailbox moved to Exchange Online (or back) keeps its links, its snapshot and its
journal.

EWS and Graph name the same item with different ids, so every stored item id of the operator (links and
snapshot) is translated with Graph's translateExchangeIds (EWS id <-> REST immutable id) before the backend
override changes, all in one transaction; the change keys stay (both APIs report the same change key), so an
edit made in between is still seen as an edit by the next sync, and nothing is created twice. The per-mailbox
incremental state (EWS sync state, subscription) is dropped: the next sync starts with a snapshot; a mailbox
leaving Graph has its push subscription DELETEd after the commit. A dry run translates (read only) and writes
nothing.

Every front end goes through ``run_moves``: each operator is all or nothing (translated, then written in its own
transaction). A translation Graph refuses for one mailbox (e.g. GRAPH_SCOPE_DENIED) fails that operator only,
with its code in its result, and the others go on; a failure of the Graph connection itself (``STOP_CODES``)
leaves the remaining operators not attempted. Nothing is written for a failed or skipped operator.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable, Sequence

from workbench.errors import WorkbenchError
from workbench.settings import BACKENDS
from workbench.store import Store, now

# Failures of the Graph connection, not of one mailbox: the moves after the first of them are not attempted.
STOP_CODES = frozenset({"GRAPH_AUTH_REJECTED", "GRAPH_CERT_EXPIRED", "GRAPH_CONSENT_MISSING", "GRAPH_UNREACHABLE",
                        "GRAPH_TLS_UNTRUSTED"})
OUTCOMES = ("moved", "would move", "unchanged", "failed", "not attempted")

@dataclass
class MoveResult:
    operator_id: str
    email: str
    source: str
    target: str
    translated: int = 0
    missing: list[str] = field(default_factory=list)      # stored ids the mailbox no longer holds
    moved: bool = False
    code: str | None = None        # the failure's catalogue code; nothing was written for this operator
    detail: str = ""
    skipped: bool = False          # not attempted: an earlier operator's failure (STOP_CODES) stopped the moves
    unsubscribed: str = ""         # leaving Graph: its push subscription DELETEd, or why not (the move stands)

    def outcome(self, *, dry_run: bool) -> str:
        """One of ``OUTCOMES``."""
        if self.source == self.target:
            return "unchanged"
        if self.code:
            return "not attempted" if self.skipped else "failed"
        return "would move" if dry_run else "moved"

    def describe(self, *, dry_run: bool) -> str:
        """One line for the CLI and the dashboard."""
        outcome = self.outcome(dry_run=dry_run)
        if outcome == "unchanged":
            return f"{self.operator_id}: already on {self.target}"
        if outcome == "failed":
            return (f"{self.operator_id} ({self.email}): not moved {self.source} -> {self.target}, nothing written: "
                    f"{self.code}: {self.detail}")
        if outcome == "not attempted":
            return f"{self.operator_id} ({self.email}): not attempted ({self.code} stopped the moves), nothing written"
        return (f"{self.operator_id} ({self.email}): {outcome} {self.source} -> {self.target}; {self.translated} item "
                f"ids translated, {len(self.missing)} no longer in the mailbox"
                + (f"; {self.unsubscribed}" if self.unsubscribed else ""))

    def to_dict(self, *, dry_run: bool) -> dict:
        return {**asdict(self), "outcome": self.outcome(dry_run=dry_run)}


Progress = Callable[[int, int, "MoveResult | None"], None]     # (done, total, the result just finished)


def summary(results: Sequence[MoveResult], *, dry_run: bool) -> str:
    """'4 operators: 2 moved, 1 unchanged, 1 failed' (outcomes in ``OUTCOMES`` order)."""
    counts = Counter(r.outcome(dry_run=dry_run) for r in results)
    parts = ", ".join(f"{counts[o]} {o}" for o in OUTCOMES if counts[o])
    return f"{len(results)} operator{'s' if len(results) != 1 else ''}: {parts}" + (
        "; dry run, nothing written" if dry_run else "")


def _stored_ids(store: Store, op: str) -> list[str]:
    return [r[0] for r in store.rows("SELECT item_id FROM links WHERE operator_id = ? UNION "
                                     "SELECT item_id FROM exchange_contacts WHERE operator_id = ? ORDER BY 1",
                                     [op, op])]


def _apply(con, r: MoveResult, mapping: dict[str, str | None], org_backend: str, source: str) -> str | None:
    """The move in the caller's transaction; returns the push subscription the mailbox had (now forgotten)."""
    subscription = con.execute("SELECT subscription_id FROM mailbox_state WHERE operator_id = ?",
                               [r.operator_id]).fetchone()
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
    return subscription[0] if subscription else None


def other_backend(store: Store, operator_id: str) -> str:
    """Where an operator moves by default: the backend not serving its mailbox now."""
    from workbench.store.settings_table import load
    email = store.scalar("SELECT email FROM operators WHERE operator_id = ?", [operator_id])
    if email is None:
        raise WorkbenchError("OPERATOR_NOT_FOUND", f"unknown operator id(s): {operator_id}; nothing was moved")
    current = load(store).backend_for(email)
    return next(kind for kind in BACKENDS if kind != current)


def move_operators(store: Store, ids: Iterable[str], target: str, *, dry_run: bool = False,
                   source: str = "cli", progress: Progress | None = None) -> list[MoveResult]:
    """Move every operator to ``target`` (``run_moves``). Unknown id: OPERATOR_NOT_FOUND, nothing done."""
    if target not in BACKENDS:
        raise WorkbenchError("USAGE", f"--to={target!r}: must be one of {', '.join(BACKENDS)}")
    wanted = list(dict.fromkeys(i.strip() for i in ids if i.strip()))
    if not wanted:
        raise WorkbenchError("USAGE", "give at least one operator id")
    known = {r[0] for r in store.rows(f"SELECT operator_id FROM operators WHERE operator_id IN "
                                      f"({', '.join('?' for _ in wanted)})", wanted)}
    missing = [i for i in wanted if i not in known]
    if missing:
        raise WorkbenchError("OPERATOR_NOT_FOUND", f"unknown operator id(s): {', '.join(missing)}; nothing was moved")
    return run_moves(store, [(op, target) for op in wanted], dry_run=dry_run, source=source, progress=progress)


def run_moves(store: Store, plans: Sequence[tuple[str, str]], *, dry_run: bool = False, source: str = "cli",
              progress: Progress | None = None) -> list[MoveResult]:
    """Move each (operator_id, target) of stored operators, each all or nothing, or (dry run) say what would
    happen; an operator already on its target is reported unchanged. ``progress(done, total, result)`` after each
    operator that needs a move. The Graph connection is opened once (a missing secret raises before anything)."""
    from workbench.backends import graph_for_moves
    from workbench.store.settings_table import load
    settings = load(store)
    emails = dict(store.rows("SELECT operator_id, email FROM operators"))
    results = [MoveResult(op, emails[op], settings.backend_for(emails[op]), target) for op, target in plans]
    todo = [r for r in results if r.source != r.target]
    if progress:
        progress(0, len(todo), None)
    if not todo:
        return results
    stop: WorkbenchError | None = None
    with graph_for_moves(settings) as graph:
        for done, r in enumerate(todo, 1):
            if stop is not None:
                r.code, r.detail, r.skipped = stop.code, stop.detail, True
            else:
                try:
                    _move_one(store, r, graph, settings.backend, dry_run=dry_run, source=source)
                except WorkbenchError as err:
                    r.code, r.detail = err.code, err.detail
                    stop = err if err.code in STOP_CODES else None
            if progress:
                progress(done, len(todo), r)
    return results


def _move_one(store: Store, r: MoveResult, graph, org_backend: str, *, dry_run: bool, source: str) -> None:
    mapping = graph.translate_ids(r.email, _stored_ids(store, r.operator_id), r.target)
    r.translated = sum(1 for v in mapping.values() if v)
    r.missing = sorted(k for k, v in mapping.items() if not v)
    if dry_run:
        return
    with store.write() as con:
        subscription = _apply(con, r, mapping, org_backend, source)
    r.moved = True
    if r.source == "graph" and subscription:
        _unsubscribe(graph, r, subscription)


def _unsubscribe(graph, r: MoveResult, subscription_id: str) -> None:
    """A mailbox leaving Graph: DELETE its push subscription (else Graph notifies until it expires), after the
    move's commit and outside the store; a failure leaves the move as it is and is reported. (EWS has nothing
    to send: a push subscription ends when the listener answers a notification it no longer knows.)"""
    from workbench.mailbox import Subscription
    try:
        graph.unsubscribe(r.email, Subscription(subscription_id))
        r.unsubscribed = "its Graph subscription deleted"
    except WorkbenchError as err:
        r.unsubscribed = f"its Graph subscription not deleted ({err.code}): it lapses at its expiration"
