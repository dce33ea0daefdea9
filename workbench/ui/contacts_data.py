"""What the Contacts screen and its detail view read: the search as a paged source, one contact's story
(``workbench.contact_history``), and the numbers an undo's confirmation names."""
from __future__ import annotations

from workbench.contact_history import search_select
from workbench.store import Store
from workbench.ui.data import Column, PageSource

CONTACT_COLUMNS = (
    Column("contact_id", "CRM id", 10), Column("given_name", "Given name", 11), Column("surname", "Surname", 11),
    Column("email", "E-mail", 28), Column("company", "Company", 18), Column("team", "Team", 12),
    Column("matched", "Matched", 14),
)
_SHOWN = "contact_id AS key, contact_id, given_name, surname, email, company, team, matched"
ORDER = "surname, given_name, contact_id"


def contacts_source(text: str) -> PageSource:
    """Every live contact for an empty search, else the matches (CONTACT_QUERY_INVALID for a bad text)."""
    if not text.strip():
        select = ("SELECT c.contact_id AS key, c.contact_id, c.given_name, c.surname, c.email, c.company, "
                  "(SELECT string_agg(operator_id, ';' ORDER BY operator_id) FROM contact_team t "
                  "WHERE t.contact_id = c.contact_id) AS team, NULL AS matched FROM contacts c "
                  "WHERE c.deleted_at IS NULL")
        return PageSource(select, CONTACT_COLUMNS, ORDER)
    sql, params = search_select(text)
    return PageSource(f"SELECT {_SHOWN} FROM ({sql}) s", CONTACT_COLUMNS, ORDER, params)


def undo_counts(store: Store, run_id: int) -> tuple[int, int]:
    """(contacts, mailboxes) run ``run_id`` deleted that no undo has restored yet."""
    row = store.rows("SELECT count(*), count(DISTINCT operator_id) FROM delete_ledger WHERE run_id = ? "
                     "AND restored_at IS NULL", [run_id])[0]
    return int(row[0]), int(row[1])
