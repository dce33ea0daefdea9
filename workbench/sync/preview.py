"""What a sync would do, as DataFrames (CLI, dashboard, notebooks).

``preview(store, operators=None, snapshot=True) -> Preview``: takes a fresh snapshot of each mailbox
(``snapshot=False`` plans from the stored one, no Exchange needed), builds the plan and returns:

* ``summary``   actions per operator and action kind (operator_id, mailbox, action, count)
* ``detail``    one row per action and changed field: operator_id, action, contact_id, item_id,
                reason, code, field, before, after (actions without field changes have field None)
* ``conflicts`` both sides changed: operator_id, contact_id, item_id, field, crm_value,
                exchange_value, winner ('crm', 'exchange' or 'manual'), action
* ``overwrites`` Exchange edits the CRM-wins rule will overwrite: operator_id, contact_id,
                item_id, field, exchange_value (lost), crm_value (written)
* ``guards``    mailboxes the mass-deletion guard stops (operator_id, links, deletes)
* ``errors``    {operator_id: "CODE: detail"} for mailboxes whose snapshot failed (not planned)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import pandas as pd

from workbench.sync.plan import Plan, read_plan

DETAIL_COLUMNS = ["operator_id", "action", "contact_id", "item_id", "reason", "code", "field", "before", "after"]
CONFLICT_COLUMNS = ["operator_id", "contact_id", "item_id", "field", "crm_value", "exchange_value", "winner", "action"]
OVERWRITE_COLUMNS = ["operator_id", "contact_id", "item_id", "field", "exchange_value", "crm_value"]


@dataclass
class Preview:
    plan: Plan
    summary: pd.DataFrame
    detail: pd.DataFrame
    conflicts: pd.DataFrame
    overwrites: pd.DataFrame
    guards: pd.DataFrame
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return self.plan.is_empty


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def from_plan(plan: Plan, errors: dict[str, str] | None = None) -> Preview:
    acts = plan.actions
    ch = plan.changes
    if acts.empty:
        detail = _empty(DETAIL_COLUMNS)
    else:
        head = acts[["action_id", "operator_id", "action", "contact_id", "item_id", "reason", "code"]]
        fields = ch[["action_id", "field", "before", "after", "crm_value", "exchange_value"]]
        merged = head.merge(fields, on="action_id", how="left")
        conflict_rows = merged["action"] == "conflict"
        # a manual conflict has no before/after; show both sides instead
        merged.loc[conflict_rows, "before"] = merged.loc[conflict_rows, "exchange_value"]
        merged.loc[conflict_rows, "after"] = merged.loc[conflict_rows, "crm_value"]
        detail = merged.sort_values(["operator_id", "action_id"], kind="stable")[DETAIL_COLUMNS].reset_index(drop=True)
        detail = detail.astype(object).where(detail.notna(), None)
    conf = ch[ch["conflict"].astype(bool)] if len(ch) else ch
    conflicts = conf[CONFLICT_COLUMNS].reset_index(drop=True) if len(conf) else _empty(CONFLICT_COLUMNS)
    over = conf[(conf["winner"] == "crm") & (conf["action"] == "update-exchange")] if len(conf) else conf
    overwrites = over[OVERWRITE_COLUMNS].reset_index(drop=True) if len(over) else _empty(OVERWRITE_COLUMNS)
    guards = plan.operators[plan.operators["guard_tripped"]][["operator_id", "mailbox", "links", "deletes"]]
    return Preview(plan, plan.summary(), detail, conflicts, overwrites, guards.reset_index(drop=True), errors or {})


def preview(store: Any, operators: Sequence[str] | None = None, snapshot: bool = True, *,
            backend: Any = None, progress: Any = None) -> Preview:
    """Snapshot (unless ``snapshot=False``), plan, and describe; writes nothing but the snapshot. ``progress``
    gets a ``ProgressEvent`` per mailbox done (phase SNAPSHOT). Not one store session around it all: with one, a
    preview waiting for a password in the dashboard's modal took 35-65 s instead of 9 s (the snapshot has its
    own session, ``take_snapshots``)."""
    from workbench.store.operators_table import require_known
    from workbench.store.settings_table import load
    errors: dict[str, str] = {}
    if operators is not None:
        require_known(store, operators)
    settings = load(store)
    ready = operators
    if snapshot:
        from workbench.sync.snapshot import take_snapshots
        outcome = take_snapshots(store, operators, backend=backend, progress=progress)
        errors = {op: f"{e.code}: {e.detail}" for op, e in outcome.items() if e is not None}
        ready = [op for op, e in outcome.items() if e is None]
    with store.write() as con:
        rows = read_plan(con, settings, ready)
    plan = rows.assemble()
    return from_plan(plan, errors)
