"""Which backend serves an operator's mailbox (`operators backend ID... --to ews|graph|default`), for hybrid
organisations: some mailboxes still on-premises (EWS), the rest in Exchange Online (Graph).

The override is a row of ``operator_backends`` (none: the organisation's ``backend`` setting). Only an
operator without links may change backend: the two backends name the same item with different ids.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from workbench.errors import WorkbenchError
from workbench.operators.ids import require_known, wanted_ids
from workbench.settings import BACKENDS
from workbench.store import Store, now
from workbench.store.settings_table import org_backend_in

DEFAULT = "default"


@dataclass
class BackendChoice:
    backend: str                                          # ews, graph or default
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def set_backend(store: Store, ids: Iterable[str], backend: str, *, source: str = "cli") -> BackendChoice:
    """Set the operators' backend, all or nothing (unknown id: OPERATOR_NOT_FOUND; linked: OPERATOR_BACKEND_LINKED)."""
    if backend not in (*BACKENDS, DEFAULT):
        raise WorkbenchError("USAGE", f"--to={backend!r}: must be one of {', '.join((*BACKENDS, DEFAULT))}")
    wanted = wanted_ids(ids)
    value = None if backend == DEFAULT else backend
    result = BackendChoice(backend)
    with store.write() as con:
        ph = ", ".join("?" for _ in wanted)
        org_backend = org_backend_in(con)
        current = dict(con.execute(f"SELECT o.operator_id, b.backend FROM operators o LEFT JOIN operator_backends b "
                                   f"USING (operator_id) WHERE o.operator_id IN ({ph})", wanted).fetchall())
        require_known(wanted, current)
        result.changed = [i for i in wanted if current[i] != value]
        result.unchanged = [i for i in wanted if current[i] == value]
        moving = [i for i in result.changed if (current[i] or org_backend) != (value or org_backend)]
        if moving:
            linked = linked_among(con, moving)
            if linked:
                raise WorkbenchError("OPERATOR_BACKEND_LINKED", f"operator(s) {', '.join(linked)} already have "
                                     f"links, to move to {value or org_backend}; nothing was changed")
        for op in result.changed:
            con.execute("DELETE FROM operator_backends WHERE operator_id = ?", [op])
            if value is not None:
                con.execute("INSERT INTO operator_backends VALUES (?, ?, ?, ?)", [op, value, now(), source])
    return result


def linked_operators(con) -> set[str]:
    """The operators that have links (so may not change backend without ``operators move``)."""
    return {r[0] for r in con.execute("SELECT DISTINCT operator_id FROM links").fetchall()}


def linked_among(con, ids: list[str]) -> list[str]:
    return sorted(set(ids) & linked_operators(con))
