"""What a batch of the sync changed, per contact, booked beside its outcome (same store transaction).

Two records come out of a batch's journal entries (before the engine strips their plan rows):

- ``contact_changes``: one row per field a create/update wrote, with the CRM's and Exchange's values,
  before and after, and who won a conflict; the history of a contact (``workbench contacts show``).
- ``delete_ledger``: one row per delete (CRM->Exchange delete, team removal) and Exchange->CRM unlink, with
  the values the item had, its id and where it went (``delete_to``); what ``workbench sync undo`` restores.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from workbench.fields import CONTACT_FIELDS, present
from workbench.store import now
from workbench.store import sync_tables as st
from workbench.sync.plan import CHANGE_COLUMNS, fields_of

LEDGER_ACTIONS = ("delete-exchange", "unlink-crm")
_V = "VARCHAR"
CHANGE_TYPES = [("run_id", "BIGINT"), ("logged_at", "TIMESTAMP"), *((n, _V) for n in CHANGE_COLUMNS[:-1]),
                ("conflict", "BOOLEAN")]
LEDGER_TYPES = [("run_id", "BIGINT"), ("deleted_at", "TIMESTAMP"),
                *((n, _V) for n in ("operator_id", "contact_id", "item_id", "action", "reason", "went_to")),
                ("categories", "VARCHAR[]"), ("private", "BOOLEAN"), *((f, _V) for f in CONTACT_FIELDS)]


@dataclass
class Booked:
    changes: list[tuple] = field(default_factory=list)
    deletes: list[tuple] = field(default_factory=list)


def _deleted_values(row: Any) -> tuple[dict[str, Any], list[str], bool]:
    """The values the deleted item had: the Exchange snapshot's, else (item gone already) the CRM's."""
    ex = fields_of(row, "ex")
    if any(ex.values()):
        cats = list(row.ex_categories) if present(row.ex_categories) is not None else []
        return ex, cats, bool(present(row.ex_private))
    return fields_of(row, "crm"), [], bool(present(row.crm_private))


def book(entries: Sequence[dict], changes: dict[int, list[tuple]], delete_to: str, run_id: int | None = None) -> Booked:
    """Rows for the batch's ``ok`` entries that still carry their plan row (``_row``) and action id;
    ``changes``: the batch's field changes by action id (``Plan.changes_of``); rows are stamped with ``run_id``
    here, on the sending thread, so the writer need not copy them."""
    out = Booked()
    stamp = now()
    for entry in entries:
        row = entry.get("_row")
        if row is None or entry.get("outcome") != "ok":
            continue
        if row.action in LEDGER_ACTIONS:
            values, cats, private = _deleted_values(row)
            went = delete_to if row.action == "delete-exchange" else None
            out.deletes.append((run_id, stamp, row.operator_id, row.contact_id, present(row.item_id), row.action,
                                present(row.reason), went, cats, private, *(values[f] for f in CONTACT_FIELDS)))
            continue
        out.changes.extend((run_id, stamp, *c) for c in changes.get(entry.get("_action_id"), ()))
    return out


def record(con: Any, run_id: int | None, booked: Booked | None) -> None:
    """Write ``booked`` in the caller's transaction (one statement per table, as typed lists: registering a
    pandas frame cost 5-13 ms of the GIL per batch)."""
    if booked is None:
        return
    for table, types, rows in (("contact_changes", CHANGE_TYPES, booked.changes),
                               ("delete_ledger", LEDGER_TYPES, booked.deletes)):
        same = all(r[0] == run_id for r in rows)
        st.insert_rows(con, table, types, rows if same else [(run_id, *r[1:]) for r in rows])
