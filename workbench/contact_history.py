"""One contact, read for people: find it by any key, and its story (``workbench contacts find|show``,
the notebooks through ``workbench.insights``).

``find_contacts`` matches the text against name, e-mail, company, phones, CRM id and Exchange item id,
ignoring case and accents (DuckDB ``strip_accents(lower(...))``); a phone matches on its digits. Candidates
come from the folded text in ``contact_search`` (``workbench.store.contact_search``), the keys that matched
are then worked out for those few rows only.
``contact_history`` gathers the CRM row, its team, per linked mailbox the last Exchange snapshot beside the
CRM's values field by field, the journal across runs and the agent with the values each write carried
(``contact_changes``), the delete ledger, and what the next sync would do (planned from the stored snapshot).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from workbench.errors import WorkbenchError
from workbench.fields import CONTACT_FIELDS, normalise
from workbench.store import Store

MAX_QUERY_CHARS = 200
MIN_PHONE_DIGITS = 4
FIND_COLUMNS = ["contact_id", "given_name", "surname", "email", "company", "business_phone", "mobile_phone",
                "deleted", "team", "matched"]
#: which side a journal action wrote to
SIDES = {"create-exchange": "CRM → Exchange", "update-exchange": "CRM → Exchange", "delete-exchange": "CRM → Exchange",
         "create-crm": "Exchange → CRM", "update-crm": "Exchange → CRM", "unlink-crm": "Exchange → CRM",
         "link": "both (linked)", "restore": "undo → Exchange and CRM"}

_FOLD = "strip_accents(lower(coalesce({}, '')))"
_DIGITS = "regexp_replace(coalesce({}, ''), '[^0-9]', '', 'g')"


def search_text(text: str) -> str:
    """``text`` trimmed, or CONTACT_QUERY_INVALID (empty, blanks only, too long)."""
    q = (text or "").strip()
    if not q or len(q) > MAX_QUERY_CHARS:
        raise WorkbenchError("CONTACT_QUERY_INVALID", f"text={q[:60]!r} ({len(q)} characters): must be 1 to "
                                                      f"{MAX_QUERY_CHARS} characters, not only blanks")
    return q


_Q = "q AS (SELECT ?::VARCHAR AS raw, strip_accents(lower(?::VARCHAR)) AS folded, ?::VARCHAR AS digits)"


def _params(q: str) -> list[Any]:
    return [q, q, "".join(ch for ch in q if ch.isdigit())]


def _candidates_sql() -> str:
    """The matching contact ids with their rank (0 the exact CRM id, 1 an Exchange item id, 2 the rest), from
    the folded ``contact_search`` text (one column scanned), the links and the snapshot's item ids."""
    return f"""
    {_Q},
    found AS (
        SELECT s.contact_id, s.surname, s.given_name, 2 AS r FROM contact_search s, q
        WHERE contains(s.hay, q.folded) OR (length(q.digits) >= {MIN_PHONE_DIGITS} AND contains(s.digits, q.digits))
        UNION ALL
        SELECT s.contact_id, s.surname, s.given_name, 1 FROM contact_search s
        WHERE s.contact_id IN (SELECT l.contact_id FROM links l, q WHERE l.item_id = q.raw
                               UNION SELECT e.crm_id FROM exchange_contacts e, q WHERE e.item_id = q.raw)
    ),
    candidates AS (
        SELECT f.contact_id, f.surname, f.given_name,
               CASE WHEN lower(f.contact_id) = lower(any_value(q.raw)) THEN 0 ELSE min(f.r) END AS rank
        FROM found f, q GROUP BY f.contact_id, f.surname, f.given_name
    )"""


def _matched_sql() -> str:
    """The keys each contact of ``page`` matched, worked out for that page only."""
    name = _FOLD.format("concat_ws(' ', c.given_name, c.surname)")
    rev = _FOLD.format("concat_ws(' ', c.surname, c.given_name)")
    phones = " OR ".join(f"contains({_DIGITS.format('c.' + p)}, q.digits)"
                         for p in ("business_phone", "mobile_phone", "home_phone"))
    return f"""
    SELECT c.contact_id, c.given_name, c.surname, c.email, c.company, c.business_phone, c.mobile_phone,
           c.deleted_at IS NOT NULL AS deleted,
           tm.team,
           concat_ws(', ',
            CASE WHEN contains(lower(c.contact_id), lower(q.raw)) THEN 'crm id' END,
            CASE WHEN p.rank = 1 THEN 'exchange item id' END,
            CASE WHEN contains({name}, q.folded) OR contains({rev}, q.folded) THEN 'name' END,
            CASE WHEN contains({_FOLD.format('c.email')}, q.folded) THEN 'e-mail' END,
            CASE WHEN contains({_FOLD.format('c.company')}, q.folded) THEN 'company' END,
            CASE WHEN length(q.digits) >= {MIN_PHONE_DIGITS} AND ({phones}) THEN 'phone' END) AS matched
    FROM page p JOIN contacts c USING (contact_id)
    LEFT JOIN (SELECT contact_id, string_agg(operator_id, ';' ORDER BY operator_id) AS team FROM contact_team
               WHERE contact_id IN (SELECT contact_id FROM page) GROUP BY contact_id) tm USING (contact_id), q
    ORDER BY p.n
    """


def find_contacts(store: Store, text: str, *, limit: int = 50, offset: int = 0) -> pd.DataFrame:
    """CRM contacts matching ``text`` (FIND_COLUMNS; ``matched`` lists the keys that matched): exact CRM id
    first, then Exchange item ids, then by surname, given name and id; one page of ``limit`` from ``offset``."""
    q = search_text(text)
    sql = (f"WITH {_candidates_sql().strip()}, page AS (SELECT contact_id, rank, row_number() OVER "
           f"(ORDER BY rank, surname, given_name, contact_id) AS n FROM candidates "
           f"ORDER BY n LIMIT ? OFFSET ?) {_matched_sql()}")
    with store.read() as con:
        return con.execute(sql, [*_params(q), int(limit), int(offset)]).df()[FIND_COLUMNS]


def count_contacts(store: Store, text: str) -> int:
    """How many contacts match ``text`` (the pager's total)."""
    q = search_text(text)
    return int(store.scalar(f"WITH {_candidates_sql().strip()} SELECT count(*) FROM candidates", _params(q)))


@dataclass
class ContactHistory:
    contact_id: str
    crm: dict[str, Any]
    team: pd.DataFrame          # operator_id, name, email, contact_sync, added_at
    mailboxes: list[dict[str, Any]]   # operator_id, mailbox, item_id, linked, seen_at, fields (DataFrame), differs
    journal: pd.DataFrame       # every journal entry of the contact, oldest first, with side, rule and values
    deletes: pd.DataFrame       # the delete ledger rows of the contact
    next_actions: pd.DataFrame  # what the next sync would do (stored snapshot)

    def to_json(self) -> dict[str, Any]:
        def records(df: pd.DataFrame) -> list[dict[str, Any]]:
            return _clean(df).to_dict("records")
        return {"contact_id": self.contact_id, "crm": self.crm, "team": records(self.team),
                "mailboxes": [{**{k: v for k, v in m.items() if k != "fields"}, "fields": records(m["fields"])}
                              for m in self.mailboxes],
                "journal": records(self.journal), "deletes": records(self.deletes),
                "next_actions": records(self.next_actions)}


def _clean(df: pd.DataFrame) -> pd.DataFrame:
    return df.astype(object).where(df.notna(), None)


def _mailboxes(store: Store, contact_id: str, crm: dict[str, Any]) -> list[dict[str, Any]]:
    snaps = _clean(store.df(
        "SELECT o.operator_id, o.email AS mailbox, e.*, l.item_id IS NOT NULL AS linked FROM exchange_contacts e "
        "JOIN operators o USING (operator_id) LEFT JOIN links l ON l.operator_id = e.operator_id "
        "AND l.item_id = e.item_id AND l.contact_id = ? "
        "WHERE l.item_id IS NOT NULL OR e.crm_id = ? ORDER BY o.operator_id, e.item_id", [contact_id, contact_id]))
    out = []
    for row in snaps.to_dict("records"):
        fields = pd.DataFrame([{"field": f, "crm": crm.get(f), "exchange": row[f],
                                "differs": normalise(crm.get(f)) != normalise(row[f])} for f in CONTACT_FIELDS])
        out.append({"operator_id": row["operator_id"], "mailbox": row["mailbox"], "item_id": row["item_id"],
                    "linked": bool(row["linked"]), "seen_at": row["seen_at"], "fields": fields,
                    "differs": fields.loc[fields["differs"], "field"].tolist()})
    return out


_JOURNAL_SQL = """
    WITH vals AS (
        SELECT run_id, operator_id, action, string_agg(
            field || ': ' || coalesce('''' || before || '''', '-') || ' → ' || coalesce('''' || after || '''', '-')
            || CASE WHEN conflict THEN ' (Exchange had ''' || coalesce(exchange_value, '') || ''', CRM '''
                    || coalesce(crm_value, '') || ''')' ELSE '' END, '; ' ORDER BY field) AS vals,
            bool_or(conflict) AS conflict, max(winner) AS winner
        FROM contact_changes WHERE contact_id = $cid GROUP BY ALL
    )
    SELECT l.log_id, l.logged_at, l.run_id, r.trigger, l.operator_id, l.item_id, l.action, l.outcome, l.code,
           CASE WHEN v.conflict THEN 'conflict: ' || v.winner || ' wins' END AS rule,
           CASE WHEN l.outcome = 'ok' THEN v.vals END AS "values", l.detail
    FROM sync_log l LEFT JOIN sync_runs r USING (run_id)
    LEFT JOIN vals v ON v.run_id IS NOT DISTINCT FROM l.run_id AND v.operator_id = l.operator_id
                    AND v.action = l.action
    WHERE l.contact_id = $cid ORDER BY l.logged_at, l.log_id
"""


def contact_history(store: Store, contact_id: str) -> ContactHistory:
    """The story of one CRM contact (CONTACT_NOT_FOUND when the id is unknown)."""
    from workbench.sync.plan import plan_store
    crm_df = _clean(store.df("SELECT * FROM contacts WHERE contact_id = ?", [contact_id]))
    if crm_df.empty:
        raise WorkbenchError("CONTACT_NOT_FOUND", f"contact_id={contact_id!r}: no CRM contact has this id")
    crm = crm_df.iloc[0].to_dict()
    team = _clean(store.df("SELECT t.operator_id, o.name, o.email, o.contact_sync, t.added_at FROM contact_team t "
                           "LEFT JOIN operators o USING (operator_id) WHERE t.contact_id = ? ORDER BY t.operator_id",
                           [contact_id]))
    journal = _clean(store.df(_JOURNAL_SQL, {"cid": contact_id}))
    journal.insert(7, "side", journal["action"].map(SIDES).where(journal["action"].isin(list(SIDES)), None))
    deletes = _clean(store.df("SELECT ledger_id, run_id, deleted_at, operator_id, item_id, action, reason, went_to, "
                              "restored_at, restore_run_id, restored_how, restored_item_id FROM delete_ledger "
                              "WHERE contact_id = ? ORDER BY ledger_id", [contact_id]))
    plan = plan_store(store)
    mine = plan.actions[plan.actions["contact_id"] == contact_id]
    next_actions = _clean(mine[["operator_id", "action", "match", "reason", "code"]].reset_index(drop=True))
    return ContactHistory(contact_id, crm, team, _mailboxes(store, contact_id, crm), journal, deletes, next_actions)
