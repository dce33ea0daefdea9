"""The search terms of every CRM contact, sorted, so `contacts find` reads one range of rows instead of
scanning (bench/contact_search.py: ~50 ms over 1,000,000 contacts where a plain ILIKE scan takes ~300 ms).

A key (the CRM id, "given surname", "surname given", e-mail, company) is folded (``FOLD``: case and accents
dropped) and split into words (``phrase``: ASCII spaces and punctuation separate them); each word starts a term that runs to
the key's end, the words joined by one space: company "Müller & Söhne 7" gives "muller sohne 7",
"sohne 7" and "7". A query folded and joined the same way finds the contacts that have a term starting
with it (one range ``term >= q AND term < q || U+10FFFF``): its words in that order, at word starts, the
last one a prefix. A phone gives ``#`` + each suffix of its digits of at least ``MIN_PHONE_DIGITS``, so
a phone-shaped query (``PHONE_TEXT``) matches on its digits anywhere in a phone. Rows carry the result's sort keys (surname, given name), so a search never
joins the contacts table but for a page.

Every writer of contact fields refreshes the rows it wrote in its own transaction (``refresh``): the CSV
import and the sync's CRM upserts; migration 8 builds it for an existing store. The table is written
sorted by term, so DuckDB's per-row-group min/max skip all but the range; rows a refresh appends sit
unsorted at the end and are read by every search.
"""
from __future__ import annotations

from typing import Any

MIN_PHONE_DIGITS = 4
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

CREATE_SQL = """
    CREATE TABLE contact_search (
        term VARCHAR NOT NULL,            -- folded words from a word start to the key's end; '#' + phone digits
        contact_id VARCHAR NOT NULL,
        surname VARCHAR,                  -- the sort keys of a result, as the contact has them
        given_name VARCHAR
    );
"""


def _terms_sql(where: str) -> str:
    keys = ", ".join(f"string_split({phrase(k)}, ' ')" for k in KEYS)
    phones = ", ".join(digits(f"c.{p}") for p in PHONES)
    return f"""
    WITH k AS (SELECT c.contact_id, c.surname, c.given_name, unnest([{keys}]) AS w FROM contacts c {where}),
         p AS (SELECT c.contact_id, c.surname, c.given_name, unnest([{phones}]) AS d FROM contacts c {where})
    SELECT term, contact_id, surname, given_name FROM (
        SELECT unnest(list_transform(range(1, length(w) + 1), lambda i: array_to_string(w[i:], ' '))) AS term,
               contact_id, surname, given_name FROM k
        UNION ALL
        SELECT unnest(list_transform(range(1, length(d) - {MIN_PHONE_DIGITS - 2}), lambda i: '#' || d[i:])),
               contact_id, surname, given_name FROM p
    ) WHERE term <> '' ORDER BY term"""


def build_sql() -> str:
    """SQL that (re)creates the table with the terms of every contact (migration 8)."""
    return f"DROP TABLE IF EXISTS contact_search; {CREATE_SQL} INSERT INTO contact_search {_terms_sql('')};"


def refresh(con: Any, ids: str | None = None, params: Any = ()) -> None:
    """Re-index the contacts selected by ``ids`` (a SELECT of contact ids, with its ``params``; all contacts
    when None), in the caller's transaction."""
    where = f"WHERE c.contact_id IN ({ids})" if ids else ""
    con.execute(f"DELETE FROM contact_search {'WHERE contact_id IN (' + ids + ')' if ids else ''}", list(params))
    con.execute(f"INSERT INTO contact_search {_terms_sql(where)}", list(params) * 2)
