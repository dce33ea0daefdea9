"""The search terms of every CRM contact, sorted, so `contacts find` reads one range of rows instead of
scanning every contact (bench/contact_search.py).

A key (the CRM id, "given surname", "surname given", e-mail, company) is folded (``fold``: case and accents
dropped) and split into words (``phrase``: ASCII spaces and punctuation separate them); each word starts a
term that runs to the key's end, the words joined by one space: company "Müller & Söhne 7" gives
"muller sohne 7", "sohne 7" and "7". A query folded and joined the same way finds the contacts having a term
that starts with it (one range ``term >= q AND term < q || TOP``): its words in that order, at word starts,
the last one a prefix. A phone gives ``#`` + each suffix of its digits of at least ``MIN_PHONE_DIGITS``, so a
phone-shaped query (``PHONE_TEXT``) matches on its digits anywhere in a phone. Rows carry the result's sort
keys (surname, given name), so a search never joins the contacts table but for a page.

Every writer of contact fields refreshes the rows it wrote in its own transaction (``refresh``): the CSV
import (one of most contacts rebuilds it all: ``refresh_imported``) and the sync's CRM upserts; migration 8
builds it for an existing store. contact_search is written sorted by term, so DuckDB's per-row-group min/max
skip all but the range; a refresh of some contacts writes their terms to the small contact_search_recent (read
whole by every search) and marks their old rows stale;
``refresh(con)`` of all contacts sorts everything into contact_search again (``workbench store reindex``;
``store check`` warns once the recent rows pass ``REINDEX_AT``).
"""
from __future__ import annotations

from typing import Any

MIN_PHONE_DIGITS = 4
#: contact_search_recent rows from which ``store check`` suggests a reindex (every search reads them all)
REINDEX_AT = 50_000
PHONES = ("business_phone", "mobile_phone", "home_phone")
#: the last code point: ``term < prefix || TOP`` closes the range of terms starting with ``prefix``
TOP = chr(0x10FFFF)


def fold(expr: str) -> str:
    """SQL: ``expr`` without case and accents."""
    return f"strip_accents(lower(coalesce({expr}, '')))"


def phrase(expr: str) -> str:
    """SQL: the words of the folded ``expr`` joined by one space; any ASCII character but a letter or a digit
    separates words (a Unicode class such as \\p{L} costs RE2 ~3 ms to compile per statement)."""
    return rf"trim(regexp_replace({fold(expr)}, '[^a-z0-9\x{{80}}-\x{{10FFFF}}]+', ' ', 'g'))"


def digits(expr: str) -> str:
    """SQL: the digits of ``expr``."""
    return f"regexp_replace(coalesce({expr}, ''), '[^0-9]', '', 'g')"


#: a query looked up as a phone too: digits and phone punctuation only (``+49 (30) 460-2037``)
PHONE_TEXT = "[0-9 +()./-]+"


def query_digits(expr: str) -> str:
    """SQL: the digits of a phone-shaped query (PHONE_TEXT), else ''."""
    return f"CASE WHEN regexp_full_match({expr}, '{PHONE_TEXT}') THEN {digits(expr)} ELSE '' END"


#: what the contact's terms are made of; FOLD_SQL is the whole folded text (the bench folds it per query)
KEYS = ("c.contact_id", "concat_ws(' ', c.given_name, c.surname)", "concat_ws(' ', c.surname, c.given_name)",
        "c.email", "c.company")
FOLD_SQL = fold("concat_ws(chr(31), " + ", ".join(KEYS) + ")")

_COLUMNS = """(
        term VARCHAR NOT NULL,            -- folded words from a word start to the key's end; '#' + phone digits
        contact_id VARCHAR NOT NULL,
        surname VARCHAR,                  -- the sort keys of a result, as the contact has them
        given_name VARCHAR
    )"""
#: contact_search: every contact's terms as of the last full build, sorted; contact_search_recent: the terms of
#: the contacts refreshed since (small, unsorted); contact_search_stale: the contacts whose rows in
#: contact_search are outdated (a DELETE there would touch every row group: ~1 s for 100 contacts at 200,000)
TABLES = ("contact_search", "contact_search_recent", "contact_search_stale")
CREATE_SQL = f"""
    CREATE TABLE contact_search {_COLUMNS};
    CREATE TABLE contact_search_recent {_COLUMNS};
    CREATE TABLE contact_search_stale (contact_id VARCHAR PRIMARY KEY);
"""


def range_sql() -> str:
    """SQL: the (contact_id, surname, given_name) of the contacts with a term in [?, ?) (two parameters,
    given twice: one range read in each table)."""
    return ("SELECT contact_id, surname, given_name FROM contact_search WHERE term >= ? AND term < ? "
            "AND contact_id NOT IN (SELECT contact_id FROM contact_search_stale) UNION ALL "
            "SELECT contact_id, surname, given_name FROM contact_search_recent WHERE term >= ? AND term < ?")


def _terms_sql(where: str) -> str:
    keys = ", ".join(f"string_split({phrase(k)}, ' ')" for k in KEYS)
    phones = ", ".join(digits(f"c.{p}") for p in PHONES)
    return f"""
    WITH c AS MATERIALIZED (SELECT * FROM contacts c {where}),
         k AS (SELECT c.contact_id, c.surname, c.given_name, unnest([{keys}]) AS w FROM c),
         p AS (SELECT c.contact_id, c.surname, c.given_name, unnest([{phones}]) AS d FROM c)
    SELECT term, contact_id, surname, given_name FROM (
        SELECT unnest(list_transform(range(1, length(w) + 1), lambda i: array_to_string(w[i:], ' '))) AS term,
               contact_id, surname, given_name FROM k
        UNION ALL
        SELECT unnest(list_transform(range(1, length(d) - {MIN_PHONE_DIGITS - 2}), lambda i: '#' || d[i:])),
               contact_id, surname, given_name FROM p
    ) WHERE term <> '' ORDER BY term"""


def build_sql() -> str:
    """SQL that (re)creates the tables with the terms of every contact, sorted (migration 8)."""
    drop = "".join(f"DROP TABLE IF EXISTS {t}; " for t in TABLES)
    return f"{drop}{CREATE_SQL} INSERT INTO contact_search {_terms_sql('')};"


def refresh(con: Any, ids: str | None = None, params: Any = ()) -> None:
    """Re-index the contacts selected by ``ids`` (a SELECT of contact ids, with its ``params``), in the caller's
    transaction: their rows go to contact_search_recent, their old ones are marked stale. None: every contact,
    rebuilt and sorted (the recent and stale rows folded in)."""
    if ids is None:
        for table in TABLES:
            con.execute(f"DELETE FROM {table}")
        con.execute(f"INSERT INTO contact_search {_terms_sql('')}")
        return
    params = list(params)
    con.execute(f"INSERT OR IGNORE INTO contact_search_stale SELECT DISTINCT * FROM ({ids})", params)
    con.execute(f"DELETE FROM contact_search_recent WHERE contact_id IN ({ids})", params)
    con.execute(f"INSERT INTO contact_search_recent {_terms_sql(f'WHERE c.contact_id IN ({ids})')}", params)


def refresh_imported(con: Any, ids: str) -> None:
    """``refresh`` for an import: one that writes at least half of all contacts (the first import, a full
    re-import) rebuilds every contact's terms sorted, which costs about as much as adding theirs to
    contact_search_recent and leaves no backlog for every search to read."""
    imported = con.execute(f"SELECT count(*) FROM ({ids})").fetchone()[0]
    total = con.execute("SELECT count(*) FROM contacts").fetchone()[0]
    refresh(con, None if 2 * imported >= total else ids)


def backlog(con: Any) -> tuple[int, int]:
    """(terms in contact_search_recent, contacts marked stale): what the next full build folds in."""
    recent = con.execute("SELECT count(*) FROM contact_search_recent").fetchone()[0]
    stale = con.execute("SELECT count(*) FROM contact_search_stale").fetchone()[0]
    return int(recent), int(stale)


def reindex(con: Any) -> tuple[int, int, int]:
    """``refresh`` of every contact, in the caller's transaction: (terms now sorted, recent terms and stale
    contacts folded in)."""
    recent, stale = backlog(con)
    refresh(con)
    return int(con.execute("SELECT count(*) FROM contact_search").fetchone()[0]), recent, stale
