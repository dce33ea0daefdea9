"""Revalidate a previewed plan: apply only what a fresh plan still holds exactly as previewed.

A previewed write is kept when the fresh plan holds the same action on the same contact and item with the
same content on both sides (kept as the fresh plan's row: current change keys and categories); else it is
journaled ``skipped``/``PLAN_STALE``. Writes the fresh plan holds but the preview did not are left for the
next run (one journal entry per mailbox).
"""
from __future__ import annotations

from typing import Any, Sequence

from workbench.fields import present
from workbench.sync.plan import Plan

#: what must be unchanged for a previewed action to be applied (besides operator, action, contact, item)
_SAME = ("mailbox", "match", "crm_hash", "exchange_hash", "crm_private", "ex_private", "winner", "team_add",
         "conflict")
_SIDES = (("in the CRM", ("crm_hash", "crm_private")), ("in Exchange", ("exchange_hash", "ex_private")))


def only(plan: Plan, operators: Sequence[str]) -> Plan:
    """The part of ``plan`` for ``operators``."""
    keep = set(operators)
    a = plan.actions[plan.actions["operator_id"].isin(keep)].reset_index(drop=True)
    c = plan.changes[plan.changes["operator_id"].isin(keep)].reset_index(drop=True)
    o = plan.operators[plan.operators["operator_id"].isin(keep)].reset_index(drop=True)
    return Plan(plan.settings, a, c, o)


def _key(row: Any) -> tuple:
    return (row.operator_id, row.action, present(row.contact_id), present(row.item_id))


def stale_entry(row: Any, why: str) -> dict:
    return {"operator_id": row.operator_id, "contact_id": present(row.contact_id), "item_id": present(row.item_id),
            "action": row.action, "outcome": "skipped", "code": "PLAN_STALE", "detail": why}


def _differs(a: Any, b: Any, columns: Sequence[str]) -> bool:
    return any(present(getattr(a, c)) != present(getattr(b, c)) for c in columns)


def _why_stale(r: Any, cur: Any, pair: Any) -> str | None:
    """Why previewed row ``r`` may not be applied (None: apply ``cur``); ``pair`` is what the fresh plan
    does with the same contact or item."""
    if pair is None:
        return "changed since the preview: nothing to do any more"
    sides = [name for name, cols in _SIDES if _differs(pair, r, cols)]
    why = None
    if sides:
        why = "changed " + " and ".join(sides) + " since the preview"
    elif cur is None or _differs(cur, r, _SAME):
        why = "changed since the preview"
    if why is not None and pair.action != r.action:
        why += f" (the plan now says {pair.action})"
    return why


def still_valid(previewed: Plan, fresh: Plan, ready: Sequence[str]) -> tuple[Plan, list[dict], list[dict]]:
    """The previewed writes still planned exactly so (as rows of ``fresh``), journal entries for those that
    are not, and one entry per mailbox for new writes."""
    ready_set = set(ready)
    now_by_key = {_key(r): r for r in fresh.writes.itertuples(index=False)}
    now_by_contact = {(r.operator_id, r.contact_id): r for r in fresh.actions.itertuples(index=False)
                      if present(r.contact_id) is not None}
    now_by_item = {(r.operator_id, r.item_id): r for r in fresh.actions.itertuples(index=False)
                   if present(r.item_id) is not None}
    kept: set[int] = set()
    stale: list[dict] = []
    for r in previewed.writes.itertuples(index=False):
        if r.operator_id not in ready_set:
            continue        # its snapshot failed now: the mailbox result says why
        cur = now_by_key.get(_key(r))
        pair = cur if cur is not None else (now_by_contact.get((r.operator_id, present(r.contact_id)))
                                            or now_by_item.get((r.operator_id, present(r.item_id))))
        why = _why_stale(r, cur, pair)
        if why is None:
            kept.add(int(cur.action_id))
        else:
            stale.append(stale_entry(r, why + "; not applied (nothing overwritten), preview again or rerun"))
    new = fresh.writes[~fresh.writes["action_id"].isin(kept)]
    extra = [{"operator_id": op, "action": "mailbox", "outcome": "skipped", "code": "PLAN_STALE",
              "detail": f"{n} write(s) planned now were not in the preview; left for the next run"}
             for op, n in new.groupby("operator_id").size().items()]
    acts = fresh.actions[fresh.actions["action_id"].isin(kept)].reset_index(drop=True)
    changes = fresh.changes[fresh.changes["action_id"].isin(kept)].reset_index(drop=True)
    return Plan(fresh.settings, acts, changes, fresh.operators), stale, extra
