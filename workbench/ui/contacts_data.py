"""What the Contacts screen and its detail view read: the search as a paged source, one contact's story
(``workbench.contact_history``), and the numbers an undo's confirmation names."""
from __future__ import annotations

from dataclasses import dataclass

from workbench.contact_history import count_contacts, find_contacts, search_text
from workbench.store import Store
from workbench.readmodels.paging import Column, Page, PageSource

CONTACT_COLUMNS = (
    Column("contact_id", "CRM id", 10), Column("given_name", "Given name", 11), Column("surname", "Surname", 11),
    Column("email", "E-mail", 28), Column("company", "Company", 18), Column("team", "Team", 12),
    Column("matched", "Matched", 14),
)
ORDER = "surname, given_name, contact_id"


@dataclass(frozen=True)
class SearchSource(PageSource):
    """The matches of ``text`` a page at a time, in ``find_contacts``'s order (exact ids first)."""
    text: str = ""

    def count(self, store: Store) -> int:
        return count_contacts(store, self.text)

    def page(self, store: Store, offset: int, limit: int) -> Page:
        total = count_contacts(store, self.text)
        offset = max(0, min(offset, max(0, (total - 1) // limit * limit)))
        df = find_contacts(store, self.text, limit=limit, offset=offset)
        return Page(offset, total, [(r.contact_id, *(getattr(r, c.key) for c in CONTACT_COLUMNS))
                                    for r in df.itertuples(index=False)])


def contacts_source(text: str) -> PageSource:
    """Every live contact for an empty search, else the matches (CONTACT_QUERY_INVALID for a bad text)."""
    if not text.strip():
        select = ("SELECT c.contact_id AS key, c.contact_id, c.given_name, c.surname, c.email, c.company, "
                  "(SELECT string_agg(operator_id, ';' ORDER BY operator_id) FROM contact_team t "
                  "WHERE t.contact_id = c.contact_id) AS team, NULL AS matched FROM contacts c "
                  "WHERE c.deleted_at IS NULL")
        return PageSource(select, CONTACT_COLUMNS, ORDER)
    return SearchSource("", CONTACT_COLUMNS, ORDER, text=search_text(text))


def undo_counts(store: Store, run_id: int) -> tuple[int, int]:
    """(contacts, mailboxes) run ``run_id`` deleted that no undo has restored yet."""
    row = store.rows("SELECT count(*), count(DISTINCT operator_id) FROM delete_ledger WHERE run_id = ? "
                     "AND restored_at IS NULL", [run_id])[0]
    return int(row[0]), int(row[1])
