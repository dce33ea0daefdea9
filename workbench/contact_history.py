"""One contact, read for people: find it by any key, and its story (``workbench contacts find|show``,
the notebooks through ``workbench.insights``).

``find_contacts`` matches the text against name, e-mail, company, phones, CRM id and Exchange item id,
ignoring case, accents and punctuation: its words at word starts, in order, the last one a prefix; a phone
matches on its digits anywhere. Candidates come from one range of the sorted terms in ``contact_search``
(``workbench.store.contact_search``, the rule and its one definition), the keys that matched are then
worked out for the page's rows only.
``contact_history`` gathers the CRM row, its team, per linked mailbox the last Exchange snapshot beside the
CRM's values field by field, the journal across runs and the agent with the values each write carried
(``contact_changes``), the delete ledger, and what the next sync would do (planned from the stored snapshot,
for the contact's operators only).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from workbench.errors import WorkbenchError
from workbench.fields import CONTACT_FIELDS, normalise
from workbench.store import Store
from workbench.store import contact_search as cs

MAX_QUERY_CHARS = 200
FIND_COLUMNS = ["contact_id", "given_name", "surname", "email", "company", "business_phone", "mobile_phone",
                "deleted", "team", "matched"]
#: which side a journal action wrote to
SIDES = {"create-exchange": "CRM → Exchange", "update-exchange": "CRM → Exchange", "delete-exchange": "CRM → Exchange",
         "create-crm": "Exchange → CRM", "update-crm": "Exchange → CRM", "unlink-crm": "Exchange → CRM",
         "link": "both (linked)", "restore": "undo → Exchange and CRM"}

def search_text(text: str) -> str:
    """``text`` trimmed, or CONTACT_QUERY_INVALID (empty, blanks only, too long)."""
    q = (text or "").strip()
    if not q or len(q) > MAX_QUERY_CHARS:
        raise WorkbenchError("CONTACT_QUERY_INVALID", f"text={q[:60]!r} ({len(q)} characters): must be 1 to "
                                                      f"{MAX_QUERY_CHARS} characters, not only blanks")
    return q


@dataclass(frozen=True)
class _Query:
    raw: str
    term: str       # the folded words joined by one space ('' when the text has no letter or digit)
    digits: str     # the digits of a phone-shaped text, else ''

    @classmethod
    def of(cls, con: Any, text: str) -> "_Query":
        q = search_text(text)
        term, digits = con.execute(f"SELECT {cs.phrase('$q')}, {cs.query_digits('$q')}", {"q": q}).fetchone()
        return cls(q, term, digits)

    def ranges(self) -> list[str]:
        """The term prefixes to look up: the words, the phone digits (when there are enough)."""
        return [p for p in (self.term, "#" + self.digits if len(self.digits) >= cs.MIN_PHONE_DIGITS else "") if p]

    def params(self) -> list[Any]:
        return [self.raw, self.term, self.digits, *(v for p in self.ranges() for v in (p, p + cs.TOP) * 2),
                self.raw, self.raw]


def _candidates_sql(query: _Query) -> str:
    """The matching contact ids with their rank (0 the exact CRM id, 1 an Exchange item id, 2 the rest): one
    range of ``contact_search`` per prefix (the words; the digits of a phone-shaped text), the links and the
    snapshot's item ids."""
    ranges = "".join(f"SELECT *, 2 AS r FROM ({cs.range_sql()}) UNION ALL " for _ in query.ranges())
    return f"""
    q AS (SELECT ?::VARCHAR AS raw, ?::VARCHAR AS term, ?::VARCHAR AS digits),
    found AS (
        {ranges}
        SELECT c.contact_id, c.surname, c.given_name, 1 FROM contacts c
        WHERE c.contact_id IN (SELECT l.contact_id FROM links l WHERE l.item_id = ?
                               UNION SELECT e.crm_id FROM exchange_contacts e WHERE e.item_id = ?)
    ),
    candidates AS (
        SELECT f.contact_id, f.surname, f.given_name,
               CASE WHEN lower(f.contact_id) = lower(any_value(q.raw)) THEN 0 ELSE min(f.r) END AS rank
        FROM found f, q GROUP BY f.contact_id, f.surname, f.given_name
    )"""


def _has(key: str) -> str:
    """SQL: the folded words of ``key`` hold the query's at a word start (the rule of ``contact_search``)."""
    return f"contains(' ' || {cs.phrase(key)}, ' ' || q.term)"


def _page_sql() -> str:
    """The contacts of ``page`` (contact_id, rank, n) with their team and the keys each matched, worked out for
    the page only (DuckDB pushes the page's ids into the scans of contacts and contact_team as a filter)."""
    phones = " OR ".join(f"contains({cs.digits('c.' + p)}, q.digits)" for p in cs.PHONES)
    name = " OR ".join(_has(k) for k in cs.KEYS[1:3])
    return f"""
    tm AS (SELECT contact_id, string_agg(operator_id, ';' ORDER BY operator_id) AS team FROM contact_team
           WHERE contact_id IN (SELECT contact_id FROM page) GROUP BY ALL)
    SELECT c.contact_id, c.given_name, c.surname, c.email, c.company, c.business_phone, c.mobile_phone,
           c.deleted_at IS NOT NULL AS deleted,
           tm.team,
           concat_ws(', ',
            CASE WHEN q.term <> '' AND {_has('c.contact_id')} THEN 'crm id' END,
            CASE WHEN p.rank = 1 THEN 'exchange item id' END,
            CASE WHEN q.term <> '' AND ({name}) THEN 'name' END,
            CASE WHEN q.term <> '' AND {_has('c.email')} THEN 'e-mail' END,
            CASE WHEN q.term <> '' AND {_has('c.company')} THEN 'company' END,
            CASE WHEN length(q.digits) >= {cs.MIN_PHONE_DIGITS} AND ({phones}) THEN 'phone' END) AS matched
    FROM page p JOIN contacts c USING (contact_id) LEFT JOIN tm USING (contact_id), q
    ORDER BY p.n
    """


def find_contacts(store: Store, text: str, *, limit: int = 50, offset: int = 0) -> pd.DataFrame:
    """CRM contacts matching ``text`` (FIND_COLUMNS; ``matched`` lists the keys that matched): exact CRM id
    first, then Exchange item ids, then by surname, given name and id; one page of ``limit`` from ``offset``."""
    search_text(text)
    with store.read() as con:
        query = _Query.of(con, text)
        sql = (f"WITH {_candidates_sql(query).strip()}, page AS (SELECT contact_id, rank, row_number() OVER "
               f"(ORDER BY rank, surname, given_name, contact_id) AS n FROM candidates ORDER BY n LIMIT ? OFFSET ?), "
               f"{_page_sql()}")
        return con.execute(sql, [*query.params(), int(limit), int(offset)]).df()[FIND_COLUMNS]


def count_contacts(store: Store, text: str) -> int:
    """How many contacts match ``text`` (the pager's total)."""
    search_text(text)
    with store.read() as con:
        query = _Query.of(con, text)
        sql = f"WITH {_candidates_sql(query).strip()} SELECT count(*) FROM candidates"
        return int(con.execute(sql, query.params()).fetchone()[0])


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


#: the operators whose next sync can act on a contact: its team, and the mailboxes linking it or carrying its id
_OPERATORS_SQL = ("SELECT operator_id FROM contact_team WHERE contact_id = ? UNION SELECT operator_id FROM links "
                  "WHERE contact_id = ? UNION SELECT operator_id FROM exchange_contacts WHERE crm_id = ? ORDER BY 1")


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
    plan = plan_store(store, operators=[r[0] for r in store.rows(_OPERATORS_SQL, [contact_id] * 3)])
    mine = plan.actions[plan.actions["contact_id"] == contact_id]
    next_actions = _clean(mine[["operator_id", "action", "match", "reason", "code"]].reset_index(drop=True))
    return ContactHistory(contact_id, crm, team, _mailboxes(store, contact_id, crm), journal, deletes, next_actions)
