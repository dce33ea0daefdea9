"""Pure sync planning: the whole list of actions, computed before any write.

Inputs are four store tables plus the settings:
``contacts`` + ``contact_team`` (the CRM side), ``exchange_contacts`` (the
last snapshot of each mailbox) and ``links`` (the status table: which CRM
contact is which Exchange item, with both content hashes as of the last sync).
The decision table is DuckDB SQL over temporary tables, so the same code plans
a demo store and a million links. Nothing here talks to Exchange or writes the
store: the same ``Plan`` drives the preview, ``--dry-run`` and the real run.

Rules (DESIGN.md "Sync semantics"):

* CRM side of an operator: live contacts (``deleted_at IS NULL``) whose team
  includes the operator.
* Exchange side: items carrying ``sync_category`` (private ones only with
  ``include_private``); an item carrying our CRM-id property is used for
  matching even without the category.
* Matching order: the ``links`` row; else the CRM-id extended property; else
  the e-mail address, case-insensitive. An e-mail shared by several contacts
  on either side is never guessed: those items are skipped (AMBIGUOUS_MATCH), and so is an e-mail match that
  would put the operator on the team of a contact with an item of its own in the mailbox.
* A link whose item is gone follows the unlinked item carrying its CRM id (a move gives an item a new id).
* A change is a content-hash change (Exchange: change key AND hash changed;
  tag churn alone is not a change), judged against the hashes in ``links``.
* Both changed: ``conflict_policy`` decides (``manual`` leaves a conflict
  action that writes nothing); a one-way ``sync_direction`` always lets its
  source win.
* CRM delete or team removal: move the item to Deleted Items, drop the link.
  Exchange delete or category removal: take the operator off the contact's
  team (the CRM contact stays), drop the link.
* First push adds the sync category and the CRM id; photos are never synced.
* Mass-deletion guard: per mailbox, more than ``mass_delete_percent`` of its
  links deleted or unlinked trips the guard (the engine stops that mailbox).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Iterable, Sequence

import duckdb
import numpy as np
import pandas as pd

from workbench.fields import CONTACT_FIELDS, hash_sql, normalise
from workbench.sync.lifecycle import Lifecycle
from workbench.store.operators_table import SYNC_MAILBOX

# Action kinds, in the order a mailbox executes them.
EXCHANGE_WRITES = ("create-exchange", "update-exchange", "delete-exchange")
CRM_WRITES = ("create-crm", "update-crm", "unlink-crm")
STORE_ONLY = ("link", "forget")
ACTIONS = ("create-exchange", "update-exchange", "delete-exchange", "create-crm", "update-crm",
           "unlink-crm", "link", "forget", "conflict", "skip")
#: actions that change something (skip and an unresolved conflict do not)
WRITE_ACTIONS = EXCHANGE_WRITES + CRM_WRITES + STORE_ONLY


#: a field change as ``Plan.changes_of`` gives it (the order ``contact_changes`` stores it after the run stamp)
CHANGE_COLUMNS = ("operator_id", "contact_id", "item_id", "action", "field", "crm_value", "exchange_value",
                  "before", "after", "winner", "conflict")
FIELD_AT = CHANGE_COLUMNS.index("field")


@dataclass(frozen=True)
class PlanSettings:
    """The settings the planner reads (a subset of ``ExchangeSettings``)."""
    sync_direction: str = "two-way"
    conflict_policy: str = "crm-wins"
    sync_category: str = "PegaSASync"
    include_private: bool = False
    mass_delete_percent: int = 20

    @classmethod
    def of(cls, settings: Any) -> "PlanSettings":
        if isinstance(settings, PlanSettings):
            return settings
        return cls(settings.sync_direction, settings.conflict_policy, settings.sync_category,
                   bool(settings.include_private), int(settings.mass_delete_percent))

    @property
    def crm_to_exchange(self) -> bool:
        return self.sync_direction in ("crm-to-exchange", "two-way")

    @property
    def exchange_to_crm(self) -> bool:
        return self.sync_direction in ("exchange-to-crm", "two-way")


def derived_contact_id(operator_id: str, item_id: str) -> str:
    """The CRM id given to a contact created from an Exchange item (stable, so a rerun reuses it)."""
    return "EXC-" + hashlib.md5(f"{operator_id}\x1f{item_id}".encode()).hexdigest()[:12].upper()


@dataclass
class Plan:
    """Every action of a sync, per operator, with field-level before/after values.

    ``actions``: one row per action (skips and manual conflicts included; unchanged pairs are not
    listed). Columns: action_id, operator_id, mailbox, action, match, reason, code, contact_id,
    item_id, change_key, conflict, winner, team_add, stamp, crm_hash, exchange_hash, crm_private,
    ex_private, ex_categories, ex_crm_id, and ``crm_<field>`` / ``ex_<field>`` for every mapped field.
    ``changes``: one row per (action, field) that changes: action_id, operator_id, contact_id,
    item_id, action, field, crm_value, exchange_value, before, after, winner, conflict.
    ``operators``: operator_id, mailbox, links, deletes, guard_tripped (mass-deletion guard).
    """
    settings: PlanSettings
    actions: pd.DataFrame
    changes: pd.DataFrame
    operators: pd.DataFrame
    #: previewed → applied / superseded (``workbench.sync.lifecycle``); a derived plan starts its own
    lifecycle: Lifecycle = field(default_factory=Lifecycle, compare=False, repr=False)

    # -- views ---------------------------------------------------------------
    @property
    def writes(self) -> pd.DataFrame:
        """Actions that change something (not skip, not an unresolved conflict)."""
        return self.actions[self.actions["action"].isin(WRITE_ACTIONS)]

    @property
    def is_empty(self) -> bool:
        return self.writes.empty

    def operator_ids(self) -> list[str]:
        return list(self.operators["operator_id"])

    def for_operator(self, operator_id: str) -> "Plan":
        """One operator's part (split once for every operator: a run asks for each mailbox's part several times,
        and three filters of a 5,000-action plan cost ~10 ms of the GIL each time). A plan is never changed."""
        return self._parts.get(operator_id) or Plan(self.settings, self.actions.iloc[:0], self.changes.iloc[:0],
                                                   self.operators.iloc[:0])

    @cached_property
    def _parts(self) -> dict[str, "Plan"]:
        def split(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
            return {str(op): part.reset_index(drop=True) for op, part in frame.groupby("operator_id", sort=False)}
        a, c, o = split(self.actions), split(self.changes), split(self.operators)
        empty = (self.actions.iloc[:0], self.changes.iloc[:0], self.operators.iloc[:0])
        return {op: Plan(self.settings, a.get(op, empty[0]), c.get(op, empty[1]), o.get(op, empty[2]))
                for op in {*a, *c, *o}}

    def changes_of(self, action_ids: Iterable[int]) -> dict[int, list[tuple]]:
        """The field changes of ``action_ids`` as plain tuples of ``CHANGE_COLUMNS`` (missing values None), by
        action id, in field order: one column-wise pass over ``changes`` for a whole batch (a filter per action
        cost ~0.3 ms of the GIL each, named row tuples twice the time of plain ones)."""
        mine = self.changes[self.changes["action_id"].isin(set(action_ids))]
        cols = [mine[c].astype(object).where(mine[c].notna(), None).tolist() for c in CHANGE_COLUMNS[:-1]]
        cols.append(mine["conflict"].fillna(False).astype(bool).tolist())
        out: dict[int, list[tuple]] = {}
        for aid, change in zip(mine["action_id"].tolist(), zip(*cols)):
            out.setdefault(int(aid), []).append(change)
        return out

    def guard_tripped(self, operator_id: str) -> bool:
        row = self.operators[self.operators["operator_id"] == operator_id]
        return bool(len(row) and row["guard_tripped"].iloc[0])

    def counts(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.actions["action"].value_counts().items()}

    def summary(self) -> pd.DataFrame:
        """Actions per operator and action kind (operator_id, mailbox, action, count)."""
        if self.actions.empty:
            return pd.DataFrame({"operator_id": pd.Series(dtype=object), "mailbox": pd.Series(dtype=object),
                                 "action": pd.Series(dtype=object), "count": pd.Series(dtype="int64")})
        out = (self.actions.groupby(["operator_id", "mailbox", "action"], sort=True)
               .size().reset_index(name="count"))
        return out


# -----------------------------------------------------------------------------
# SQL
_F = CONTACT_FIELDS


def _cols(prefix: str, alias: str) -> str:
    return ", ".join(f"{alias}.{f} AS {prefix}{f}" for f in _F)


def _scope(ops_filter: str) -> list[str]:
    """The operators of the plan and both sides of their mailboxes, as narrow temp tables."""
    return [
        # operators in this plan, with the mailbox address to impersonate
        f"""CREATE OR REPLACE TEMP TABLE _ops AS
        SELECT o.operator_id, m.mailbox
        FROM operators o JOIN ({SYNC_MAILBOX}) m USING (operator_id)
        WHERE o.contact_sync {ops_filter}""",
        # the CRM side per operator, with the content hash
        f"""CREATE OR REPLACE TEMP TABLE _crm AS
        SELECT t.operator_id, c.contact_id, {hash_sql("c")} AS crm_hash
        FROM contact_team t JOIN _ops USING (operator_id) JOIN contacts c USING (contact_id)
        WHERE c.deleted_at IS NULL""",
        # the Exchange side (whole snapshot of the plan's mailboxes), narrow
        """CREATE OR REPLACE TEMP TABLE _ex AS
        SELECT e.operator_id, e.item_id, e.change_key, e.crm_id, e.private, e.email, e.hash,
               list_contains(e.categories, $cat) AS has_cat,
               list_contains(e.categories, $cat) AND (NOT e.private OR $incl) AS in_scope
        FROM exchange_contacts e JOIN _ops USING (operator_id)""",
        # a link whose item is gone while an unlinked item carries its CRM id follows that item: the item was
        # moved (deleted and restored from Deleted Items: a move gives it a new id), which is no change of
        # either side, so the pair is judged against the link as if it had not moved
        """CREATE OR REPLACE TEMP TABLE _mv AS
        SELECT l.operator_id, l.contact_id, min(e.item_id) AS item_id
        FROM links l JOIN _ops USING (operator_id)
        JOIN _ex e ON e.operator_id = l.operator_id AND e.crm_id = l.contact_id
        WHERE NOT EXISTS (SELECT 1 FROM _ex x WHERE x.operator_id = l.operator_id AND x.item_id = l.item_id)
          AND NOT EXISTS (SELECT 1 FROM links o WHERE o.operator_id = e.operator_id AND o.item_id = e.item_id)
        GROUP BY ALL""",
        """CREATE OR REPLACE TEMP TABLE _lk AS
        SELECT l.operator_id, l.contact_id, coalesce(m.item_id, l.item_id) AS item_id, l.change_key, l.crm_hash,
               l.exchange_hash, m.item_id IS NOT NULL AS moved
        FROM links l JOIN _ops USING (operator_id) LEFT JOIN _mv m USING (operator_id, contact_id)""",
        # unlinked CRM contacts and unlinked items: the only candidates for matching
        """CREATE OR REPLACE TEMP TABLE _uc AS
        SELECT c.operator_id, c.contact_id, lower(trim(k.email)) AS email_key
        FROM _crm c ANTI JOIN _lk l ON l.operator_id = c.operator_id AND l.contact_id = c.contact_id
        JOIN contacts k ON k.contact_id = c.contact_id""",
        """CREATE OR REPLACE TEMP TABLE _ul AS
        SELECT e.*, lower(trim(e.email)) AS email_key
        FROM _ex e ANTI JOIN _lk l ON l.operator_id = e.operator_id AND l.item_id = e.item_id""",
    ]


#: matching, cheapest first. Most rows of a big store are linked and unchanged, so every matching step works
#: on the small sets of unlinked contacts (_uc) and unlinked items (_ul)
_MATCHING = [
    # 1. CRM-id matches for unlinked CRM contacts (any item carrying our property, category or not)
    """CREATE OR REPLACE TEMP TABLE _idm AS
    SELECT c.operator_id, c.contact_id, e.item_id,
           row_number() OVER (PARTITION BY c.operator_id, c.contact_id ORDER BY e.item_id) AS rn
    FROM _uc c JOIN _ul e ON e.operator_id = c.operator_id AND e.crm_id = c.contact_id""",
    # extra unlinked items carrying the CRM id of a linked or id-matched contact
    """CREATE OR REPLACE TEMP TABLE _dup AS
    SELECT e.operator_id, e.item_id, p.contact_id, (e.hash = pe.hash) AS identical
    FROM _ul e
    JOIN (SELECT operator_id, contact_id, item_id FROM _lk
          UNION ALL SELECT operator_id, contact_id, item_id FROM _idm WHERE rn = 1) p
      ON p.operator_id = e.operator_id AND p.contact_id = e.crm_id AND p.item_id <> e.item_id
    LEFT JOIN _ex pe ON pe.operator_id = p.operator_id AND pe.item_id = p.item_id""",
    # 2. e-mail candidates on both sides
    """CREATE OR REPLACE TEMP TABLE _cc AS
    SELECT c.* FROM _uc c
    WHERE coalesce(c.email_key, '') <> ''
      AND NOT EXISTS (SELECT 1 FROM _idm m WHERE m.operator_id = c.operator_id AND m.contact_id = c.contact_id)""",
    """CREATE OR REPLACE TEMP TABLE _ec AS
    SELECT e.* FROM _ul e
    WHERE e.in_scope AND coalesce(e.email_key, '') <> ''
      AND NOT EXISTS (SELECT 1 FROM _idm m WHERE m.operator_id = e.operator_id AND m.item_id = e.item_id)
      AND NOT EXISTS (SELECT 1 FROM _dup d WHERE d.operator_id = e.operator_id AND d.item_id = e.item_id)
      AND (e.crm_id IS NULL OR NOT EXISTS (SELECT 1 FROM contacts k WHERE k.contact_id = e.crm_id))""",
    "CREATE OR REPLACE TEMP TABLE _ecn AS SELECT operator_id, email_key, count(*) AS n FROM _ec GROUP BY ALL",
    # live CRM contacts per e-mail over the whole CRM (ambiguity is global), for candidate e-mails only
    """CREATE OR REPLACE TEMP TABLE _cem AS
    SELECT lower(trim(email)) AS email_key, count(*) AS n, min(contact_id) AS contact_id
    FROM contacts WHERE deleted_at IS NULL
      AND lower(trim(email)) IN (SELECT email_key FROM _ec UNION SELECT email_key FROM _cc)
    GROUP BY 1""",
    """CREATE OR REPLACE TEMP TABLE _em AS
    SELECT c.operator_id, c.contact_id, e.item_id
    FROM _cc c JOIN _ec e USING (operator_id, email_key) JOIN _ecn n USING (operator_id, email_key)
    JOIN _cem g USING (email_key)
    WHERE n.n = 1 AND g.n = 1""",
    """CREATE OR REPLACE TEMP TABLE _amb_c AS
    SELECT c.operator_id, c.contact_id FROM _cc c JOIN _ecn n USING (operator_id, email_key)
    JOIN _cem g USING (email_key) WHERE n.n > 1 OR g.n > 1""",
    # 3. Exchange items matching (by e-mail) a live contact not on the operator's team: join the team, unless the
    #    contact has an item of its own here (``held``, never guessed): an item carrying its CRM id (e.g. one the
    #    user de-categorised, adopted again when the contact is back on the team), its link (the CRM took the
    #    operator off the team: this plan deletes that item), or a delete of its item from this mailbox in the
    #    delete ledger not undone since (else the run after that delete would put the operator back on the team)
    """CREATE OR REPLACE TEMP TABLE _ej AS
    SELECT e.operator_id, g.contact_id, e.item_id,
           EXISTS (SELECT 1 FROM _ex x WHERE x.operator_id = e.operator_id AND x.crm_id = g.contact_id)
           OR EXISTS (SELECT 1 FROM _lk l WHERE l.operator_id = e.operator_id AND l.contact_id = g.contact_id)
           OR EXISTS (SELECT 1 FROM delete_ledger d WHERE d.operator_id = e.operator_id AND d.contact_id = g.contact_id
                      AND d.action = 'delete-exchange' AND d.restored_at IS NULL) AS held
    FROM _ec e JOIN _ecn n USING (operator_id, email_key) JOIN _cem g USING (email_key)
    WHERE n.n = 1 AND g.n = 1
      AND NOT EXISTS (SELECT 1 FROM _crm c WHERE c.operator_id = e.operator_id AND c.contact_id = g.contact_id)""",
    # ... or carrying the CRM id of a live contact not on the team (e.g. restored from Deleted Items)
    """CREATE OR REPLACE TEMP TABLE _ij AS
    SELECT e.operator_id, e.crm_id AS contact_id, e.item_id,
           row_number() OVER (PARTITION BY e.operator_id, e.crm_id ORDER BY e.item_id) AS rn
    FROM _ul e JOIN contacts k ON k.contact_id = e.crm_id AND k.deleted_at IS NULL
    WHERE e.in_scope
      AND NOT EXISTS (SELECT 1 FROM _crm c WHERE c.operator_id = e.operator_id AND c.contact_id = e.crm_id)
      AND NOT EXISTS (SELECT 1 FROM _lk l WHERE l.operator_id = e.operator_id AND l.contact_id = e.crm_id)""",
]

# every pair and every lone item, with how it was matched
_PAIRS = """CREATE OR REPLACE TEMP TABLE _pairs AS
    SELECT operator_id, contact_id, item_id, 'link' AS match, NULL AS why FROM _lk
    UNION ALL SELECT operator_id, contact_id, item_id, 'crm-id', NULL FROM _idm WHERE rn = 1
    UNION ALL SELECT operator_id, contact_id, item_id, 'email', NULL FROM _em
    UNION ALL SELECT operator_id, contact_id, item_id, 'email-join', NULL FROM _ej WHERE NOT held
    UNION ALL SELECT operator_id, contact_id, item_id, 'none', 'held' FROM _ej WHERE held
    UNION ALL SELECT operator_id, contact_id, item_id, 'crm-id-join', NULL FROM _ij WHERE rn = 1
    UNION ALL SELECT operator_id, NULL, item_id, 'none', 'duplicate-identical' FROM _dup WHERE identical
    UNION ALL SELECT operator_id, NULL, item_id, 'none', 'duplicate' FROM _dup WHERE NOT coalesce(identical, false)
    UNION ALL SELECT operator_id, contact_id, item_id, 'none', 'duplicate' FROM _ij WHERE rn > 1
    UNION ALL SELECT c.operator_id, c.contact_id, NULL, 'none', 'ambiguous' FROM _amb_c c
    UNION ALL SELECT c.operator_id, c.contact_id, NULL, 'none', 'crm-only' FROM _uc c
      WHERE NOT EXISTS (SELECT 1 FROM _idm m WHERE m.operator_id = c.operator_id AND m.contact_id = c.contact_id)
        AND NOT EXISTS (SELECT 1 FROM _em m WHERE m.operator_id = c.operator_id AND m.contact_id = c.contact_id)
        AND NOT EXISTS (SELECT 1 FROM _amb_c m WHERE m.operator_id = c.operator_id AND m.contact_id = c.contact_id)
    UNION ALL SELECT e.operator_id, e.crm_id, e.item_id, 'none',
        CASE WHEN e.crm_id IS NOT NULL AND EXISTS (SELECT 1 FROM contacts k WHERE k.contact_id = e.crm_id
                                                   AND k.deleted_at IS NOT NULL) THEN 'crm-deleted'
             WHEN NOT e.has_cat THEN 'no-category'
             WHEN NOT e.in_scope THEN 'private'
             WHEN EXISTS (SELECT 1 FROM _cem g WHERE g.email_key = e.email_key) THEN 'ambiguous'
             ELSE 'exchange-only' END
      FROM _ul e
      WHERE NOT EXISTS (SELECT 1 FROM _idm m WHERE m.operator_id = e.operator_id AND m.item_id = e.item_id)
        AND NOT EXISTS (SELECT 1 FROM _dup m WHERE m.operator_id = e.operator_id AND m.item_id = e.item_id)
        AND NOT EXISTS (SELECT 1 FROM _em m WHERE m.operator_id = e.operator_id AND m.item_id = e.item_id)
        AND NOT EXISTS (SELECT 1 FROM _ej m WHERE m.operator_id = e.operator_id AND m.item_id = e.item_id)
        AND NOT EXISTS (SELECT 1 FROM _ij m WHERE m.operator_id = e.operator_id AND m.item_id = e.item_id)"""


def _statements(ops_filter: str) -> list[str]:
    """Every temp table of the plan, in order: scope, matching, pairs."""
    return _scope(ops_filter) + _MATCHING + [_PAIRS]


_DECIDE = """
CREATE OR REPLACE TEMP TABLE _act AS
WITH f AS (
    SELECT p.operator_id, p.contact_id, p.item_id, p.match, p.why,
           t.contact_id IS NOT NULL AS on_team,
           x.item_id IS NOT NULL AS e_present,
           coalesce(x.has_cat, false) AS has_cat,
           coalesce(x.private, false) AS ex_private,
           x.crm_id AS ex_crm_id, x.change_key, x.hash AS exchange_hash, t.crm_hash AS team_hash,
           l.crm_hash AS l_crm_hash, l.exchange_hash AS l_ex_hash, l.change_key AS l_change_key,
           coalesce(l.moved, false) AS moved
    FROM _pairs p
    LEFT JOIN _crm t ON t.operator_id = p.operator_id AND t.contact_id = p.contact_id
    LEFT JOIN _ex x ON x.operator_id = p.operator_id AND x.item_id = p.item_id
    LEFT JOIN _lk l ON p.match = 'link' AND l.operator_id = p.operator_id AND l.contact_id = p.contact_id
), fc AS (
    -- contact facts: from the team row for the (many) linked pairs on the team, else from contacts
    SELECT f.*, true AS c_live, false AS crm_private, f.team_hash AS crm_hash
    FROM f WHERE f.on_team AND f.match = 'link'
    UNION ALL
    SELECT f.*,
           CASE WHEN f.on_team THEN true ELSE coalesce(c.deleted_at IS NULL, false) END AS c_live,
           coalesce(c.private, false) AS crm_private,
           CASE WHEN f.on_team THEN f.team_hash WHEN c.contact_id IS NOT NULL THEN {crm_hash} END AS crm_hash
    FROM f LEFT JOIN contacts c ON c.contact_id = f.contact_id
    WHERE NOT (f.on_team AND f.match = 'link')
), g AS (
    SELECT *,
        (c_live AND on_team) AS c_present,
        (crm_hash = exchange_hash) AS same,
        CASE WHEN match = 'link' THEN crm_hash IS DISTINCT FROM l_crm_hash
             ELSE crm_hash IS DISTINCT FROM exchange_hash END AS crm_changed,
        CASE WHEN match = 'link' THEN change_key IS DISTINCT FROM l_change_key
                                      AND exchange_hash IS DISTINCT FROM l_ex_hash
             ELSE crm_hash IS DISTINCT FROM exchange_hash END AS ex_changed
    FROM fc
), w AS (
    SELECT *,
        CASE WHEN same OR match = 'none' OR NOT e_present OR NOT c_live THEN NULL
             WHEN crm_changed AND NOT ex_changed THEN 'crm'
             WHEN ex_changed AND NOT crm_changed THEN 'exchange'
             WHEN NOT crm_changed AND NOT ex_changed THEN NULL
             WHEN $dir = 'crm-to-exchange' THEN 'crm'
             WHEN $dir = 'exchange-to-crm' THEN 'exchange'
             WHEN $policy = 'crm-wins' THEN 'crm'
             WHEN $policy = 'exchange-wins' THEN 'exchange'
             ELSE 'manual' END AS winner,
        (match <> 'none' AND e_present AND c_live AND crm_changed AND ex_changed
         AND NOT coalesce(same, false)) AS conflict,
        match IN ('email-join', 'crm-id-join') AS team_add
    FROM g
), d AS MATERIALIZED (
    -- MATERIALIZED: pushing the final filter down through this CASE cost DuckDB's optimizer 0.3-0.7 s
    -- per plan whatever the size (600 pairs: the query itself runs in 2 ms)
    SELECT *,
        CASE
        -- lone items and contacts
        WHEN match = 'none' AND why = 'crm-only' THEN
            CASE WHEN crm_private AND NOT $incl THEN 'skip:SKIPPED_PRIVATE:private CRM contact'
                 WHEN $c2e THEN 'create-exchange::new in CRM'
                 ELSE 'skip:SKIPPED_DIRECTION:new in CRM; sync_direction is exchange-to-crm' END
        WHEN match = 'none' AND why = 'exchange-only' THEN
            CASE WHEN $e2c THEN 'create-crm::new in Exchange'
                 ELSE 'skip:SKIPPED_DIRECTION:new in Exchange; sync_direction is crm-to-exchange' END
        WHEN match = 'none' AND why = 'crm-deleted' THEN
            CASE WHEN NOT has_cat THEN 'skip:SKIPPED_NO_CATEGORY:no sync category'
                 WHEN $c2e THEN 'delete-exchange::CRM contact deleted'
                 ELSE 'skip:SKIPPED_DIRECTION:CRM contact deleted; sync_direction is exchange-to-crm' END
        WHEN match = 'none' AND why = 'duplicate-identical' THEN
            CASE WHEN $c2e THEN 'delete-exchange::duplicate of a linked item (same CRM id, same content)'
                 ELSE 'skip:AMBIGUOUS_MATCH:another item carries the same CRM id' END
        WHEN match = 'none' AND why = 'duplicate' THEN 'skip:AMBIGUOUS_MATCH:another item carries the same CRM id'
        WHEN match = 'none' AND why = 'ambiguous' THEN 'skip:AMBIGUOUS_MATCH:e-mail shared by several contacts'
        WHEN match = 'none' AND why = 'held' THEN
            'skip:AMBIGUOUS_MATCH:its e-mail is a contact''s that has (or had) its own item here'
        WHEN match = 'none' AND why = 'no-category' THEN 'skip:SKIPPED_NO_CATEGORY:no sync category'
        WHEN match = 'none' AND why = 'private' THEN 'skip:SKIPPED_PRIVATE:private Exchange contact'
        -- linked pairs whose one side left the scope
        WHEN match = 'link' AND NOT c_present AND (NOT e_present OR NOT has_cat) THEN 'forget::gone on both sides'
        WHEN match = 'link' AND NOT c_present THEN
            CASE WHEN $c2e THEN 'delete-exchange::' || CASE WHEN c_live THEN 'operator removed from team'
                                                            ELSE 'CRM contact deleted' END
                 ELSE 'skip:SKIPPED_DIRECTION:removed in CRM; sync_direction is exchange-to-crm' END
        WHEN match = 'link' AND NOT e_present THEN
            CASE WHEN $e2c THEN 'unlink-crm::deleted in Exchange'
                 ELSE 'skip:SKIPPED_DIRECTION:deleted in Exchange; sync_direction is crm-to-exchange' END
        WHEN match = 'link' AND NOT has_cat THEN
            CASE WHEN $e2c THEN 'unlink-crm::sync category removed in Exchange'
                 ELSE 'skip:SKIPPED_DIRECTION:category removed in Exchange; sync_direction is crm-to-exchange' END
        WHEN match = 'link' AND ex_private AND NOT $incl THEN 'skip:SKIPPED_PRIVATE:private Exchange contact'
        -- joins need the Exchange -> CRM direction (the operator joins the team)
        WHEN team_add AND NOT $e2c THEN 'skip:SKIPPED_DIRECTION:in Exchange, not on the team; sync_direction is crm-to-exchange'
        -- content
        WHEN same THEN
            CASE WHEN match <> 'link' THEN 'link::matched by ' || match
                 WHEN crm_hash IS DISTINCT FROM l_crm_hash OR exchange_hash IS DISTINCT FROM l_ex_hash
                     THEN 'link::both sides already equal'
                 WHEN moved THEN 'link::moved in Exchange (a new item id)'
                 ELSE 'noop::' END
        WHEN winner IS NULL THEN 'noop::'
        WHEN winner = 'manual' THEN 'conflict:CONFLICT_MANUAL:both sides changed; conflict_policy is manual'
        WHEN winner = 'crm' THEN
            CASE WHEN $c2e THEN 'update-exchange::' || CASE WHEN conflict THEN 'both changed, CRM wins'
                                                            ELSE 'CRM changed' END
                 ELSE 'skip:SKIPPED_DIRECTION:CRM changed; sync_direction is exchange-to-crm' END
        ELSE
            CASE WHEN $e2c THEN 'update-crm::' || CASE WHEN conflict THEN 'both changed, Exchange wins'
                                                       ELSE 'Exchange changed' END
                 ELSE 'skip:SKIPPED_DIRECTION:Exchange changed; sync_direction is crm-to-exchange' END
        END AS decision
    FROM w
)
SELECT * FROM d WHERE decision <> 'noop::'
"""

_WIDE = """
SELECT a.operator_id, o.mailbox, a.decision, a.match, a.contact_id, a.item_id, a.change_key,
       coalesce(a.conflict, false) AS conflict, a.winner, a.team_add, a.crm_hash, a.exchange_hash,
       a.crm_private, a.ex_private, x.categories AS ex_categories, a.ex_crm_id, a.has_cat,
       {crm_cols}, {ex_cols}
FROM _act a
JOIN _ops o USING (operator_id)
LEFT JOIN contacts c ON c.contact_id = a.contact_id
LEFT JOIN exchange_contacts x ON x.operator_id = a.operator_id AND x.item_id = a.item_id
ORDER BY a.operator_id, split_part(a.decision, ':', 1), a.contact_id, a.item_id
"""


def _decide_sql() -> str:
    return _DECIDE.format(crm_hash=hash_sql("c"))


def _wide_sql() -> str:
    return _WIDE.format(crm_cols=_cols("crm_", "c"), ex_cols=_cols("ex_", "x"))


_GUARD = """
SELECT o.operator_id, o.mailbox, coalesce(l.n, 0) AS links
FROM _ops o LEFT JOIN (SELECT operator_id, count(*) AS n FROM _lk GROUP BY 1) l USING (operator_id)
ORDER BY o.operator_id
"""


def _objects(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as plain objects with None for missing (pandas' string dtype uses NaN)."""
    for col in frame.columns:
        if not (pd.api.types.is_bool_dtype(frame[col]) or pd.api.types.is_numeric_dtype(frame[col])):
            frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    return frame


_CHANGE_COLUMNS = ["action_id", "operator_id", "contact_id", "item_id", "action", "field", "crm_value",
                   "exchange_value", "before", "after", "winner", "conflict"]
_FIELD_ACTIONS = ("create-exchange", "update-exchange", "create-crm", "update-crm", "conflict")


def _changes(actions: pd.DataFrame) -> pd.DataFrame:
    """Field-level before/after for every action that carries field values, in action then field order:
    every (action, field) pair as one row of flat numpy arrays, kept where the field is written or differs
    (pandas operations per field cost 0.4 s for 5,000 creates, these 0.05 s)."""
    relevant = actions[actions["action"].isin(_FIELD_ACTIONS)]
    if relevant.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in _CHANGE_COLUMNS})
    k = len(_F)

    def each_field(prefix: str) -> np.ndarray:
        """(action, field) pairs, row-major: the normalised values of the ``prefix`` side."""
        return np.array([[normalise(v) for v in relevant[f"{prefix}{f}"].to_numpy(dtype=object)] for f in _F],
                        dtype=object).T.ravel()

    def per_pair(col: str) -> np.ndarray:
        return np.repeat(relevant[col].to_numpy(dtype=object), k)
    crm, ex, act = each_field("crm_"), each_field("ex_"), per_pair("action")
    to_ex = (act == "create-exchange") | (act == "update-exchange")
    to_crm = (act == "create-crm") | (act == "update-crm")
    keep = (((act == "create-exchange") & (crm != "")) | ((act == "create-crm") & (ex != ""))
            | ((act == "update-exchange") | (act == "update-crm") | (act == "conflict")) & (crm != ex))
    if not keep.any():
        return pd.DataFrame({c: pd.Series(dtype=object) for c in _CHANGE_COLUMNS})
    none = np.full(len(act), None, dtype=object)
    out = pd.DataFrame({
        "action_id": np.repeat(relevant["action_id"].to_numpy(), k)[keep],
        **{c: per_pair(c)[keep] for c in ("operator_id", "contact_id", "item_id")},
        "action": act[keep], "field": np.tile(np.array(_F, dtype=object), len(relevant))[keep],
        "crm_value": np.where(act == "create-crm", none, crm)[keep],
        "exchange_value": np.where(act == "create-exchange", none, ex)[keep],
        "before": np.where(act == "update-exchange", ex, np.where(act == "update-crm", crm, none))[keep],
        "after": np.where(to_ex, crm, np.where(to_crm, ex, none))[keep],
        "winner": per_pair("winner")[keep], "conflict": np.repeat(relevant["conflict"].to_numpy(), k)[keep]})
    return _objects(out)


@dataclass(frozen=True)
class PlanRows:
    """What a plan reads from the store (``read_plan``); ``assemble`` makes the ``Plan`` from it with pandas
    alone, so a run does that after it lets the store's gate go."""
    settings: PlanSettings
    actions: pd.DataFrame
    operators: pd.DataFrame

    def assemble(self) -> Plan:
        ps, actions, ops = self.settings, self.actions, self.operators
        parts = actions["decision"].str.split(":", n=2, expand=True).reindex(columns=[0, 1, 2])
        actions.insert(2, "action", parts[0].astype(object))
        actions.insert(4, "reason", parts[2].astype(object))
        actions.insert(5, "code", parts[1].where(parts[1] != "", None).astype(object))
        actions = actions.drop(columns=["decision"])
        actions.insert(0, "action_id", range(1, len(actions) + 1))
        actions["team_add"] = actions["team_add"].astype(bool)
        actions["conflict"] = actions["conflict"].astype(bool)
        # a contact created from Exchange gets the item's own (unknown) CRM id, else a derived stable id
        new_crm = actions["action"] == "create-crm"
        if new_crm.any():
            actions.loc[new_crm, "contact_id"] = [
                cid if isinstance(cid, str) and cid else derived_contact_id(op, item)
                for cid, op, item in zip(actions.loc[new_crm, "ex_crm_id"], actions.loc[new_crm, "operator_id"],
                                         actions.loc[new_crm, "item_id"])]
        # bookkeeping on the Exchange item: our CRM id and the sync category
        has_item = actions["item_id"].notna()
        stamp_needed = has_item & ((actions["ex_crm_id"].fillna("") != actions["contact_id"].fillna(""))
                                   | ~actions["has_cat"].fillna(False).astype(bool))
        actions["stamp"] = stamp_needed & actions["action"].isin(("link", "update-crm", "create-crm",
                                                                  "update-exchange"))
        actions = _objects(actions.drop(columns=["has_cat"]))
        # mass-deletion guard
        dels = actions[(actions["match"] == "link") & actions["action"].isin(("delete-exchange", "unlink-crm"))]
        counts = dels.groupby("operator_id").size()
        ops = ops.copy()
        ops["deletes"] = ops["operator_id"].map(counts).fillna(0).astype(int)
        ops["links"] = ops["links"].astype(int)
        ops["guard_tripped"] = (ops["links"] > 0) & (ops["deletes"] * 100 > ps.mass_delete_percent * ops["links"])
        return Plan(ps, actions, _changes(actions), ops)


def read_plan(con: duckdb.DuckDBPyConnection, settings: Any, operators: Sequence[str] | None = None) -> PlanRows:
    """The plan's decision rows over the tables visible to ``con`` (a store connection); reads only."""
    ps = PlanSettings.of(settings)
    params = {"cat": ps.sync_category, "incl": ps.include_private}
    ops_filter = ""
    if operators is not None:
        ids = list(dict.fromkeys(operators))
        con.execute("CREATE OR REPLACE TEMP TABLE _want (operator_id VARCHAR)")
        if ids:
            con.executemany("INSERT INTO _want VALUES (?)", [[i] for i in ids])
        ops_filter = "AND o.operator_id IN (SELECT operator_id FROM _want)"
    for sql in _statements(ops_filter):
        used = {k: v for k, v in params.items() if f"${k}" in sql}
        con.execute(sql, used) if used else con.execute(sql)
    decide_params = {**params, "dir": ps.sync_direction, "policy": ps.conflict_policy,
                     "c2e": ps.crm_to_exchange, "e2c": ps.exchange_to_crm}
    decide = _decide_sql()
    con.execute(decide, {k: v for k, v in decide_params.items() if f"${k}" in decide})
    return PlanRows(ps, con.execute(_wide_sql()).df(), con.execute(_GUARD).df())


def build_plan(con: duckdb.DuckDBPyConnection, settings: Any,
               operators: Sequence[str] | None = None) -> Plan:
    """Plan over the tables visible to ``con`` (a store connection); reads only."""
    return read_plan(con, settings, operators).assemble()


def operator_mailboxes(con: duckdb.DuckDBPyConnection, operators: Sequence[str] | None = None) -> pd.DataFrame:
    """The enabled operators (of ``operators``, or all) with the mailbox address to impersonate."""
    ops_filter = ""
    if operators is not None:
        con.execute("CREATE OR REPLACE TEMP TABLE _want (operator_id VARCHAR)")
        ids = list(dict.fromkeys(operators))
        if ids:
            con.executemany("INSERT INTO _want VALUES (?)", [[i] for i in ids])
        ops_filter = "AND o.operator_id IN (SELECT operator_id FROM _want)"
    con.execute(_statements(ops_filter)[0])
    return _objects(con.execute("SELECT * FROM _ops ORDER BY operator_id").df())


def plan_store(store: Any, settings: Any = None, operators: Sequence[str] | None = None) -> Plan:
    """Plan from the store's current tables (the stored snapshot)."""
    if settings is None:
        from workbench.store.settings_table import load
        settings = load(store)
    with store.read() as con:
        rows = read_plan(con, settings, operators)
    return rows.assemble()


def fields_of(row: Any, side: str) -> dict[str, str | None]:
    """The mapped field values of one action row, for ``side`` 'crm' or 'ex' (blanks as None)."""
    out: dict[str, str | None] = {}
    for f in _F:
        key = f"{side}_{f}"
        v = normalise(getattr(row, key) if hasattr(row, "_fields") else row[key])
        out[f] = v or None
    return out

