"""The folded search text of every CRM contact, so `contacts find` scans one column instead of folding every
contact per query (DuckDB's strip_accents over 1,000,000 contacts takes ~4 s; bench/contact_search.py measures
the search at about 1/6 of that).

``hay``: strip_accents(lower(...)) of the CRM id, "given surname", "surname given", e-mail and company,
separated by U+001F (a query never spans two fields); ``digits``: the digits of each phone, space-separated;
``surname``, ``given_name``: the result's sort keys, so a search never joins the contacts table but for a page.
Every writer of contact fields refreshes the rows it wrote in its own transaction (``refresh``): the CSV
import and the sync's CRM upserts; migration 6 builds it for an existing store.
"""
from __future__ import annotations

from typing import Any

FOLD_SQL = "strip_accents(lower(concat_ws(chr(31), c.contact_id, concat_ws(' ', c.given_name, c.surname), " \
        "concat_ws(' ', c.surname, c.given_name), c.email, c.company)))"
_DIGITS = "concat_ws(' ', " + ", ".join(f"regexp_replace(coalesce(c.{p}, ''), '[^0-9]', '', 'g')"
                                          for p in ("business_phone", "mobile_phone", "home_phone")) + ")"

CREATE_SQL = """
    CREATE TABLE contact_search (
        contact_id VARCHAR PRIMARY KEY,
        hay VARCHAR NOT NULL,             -- folded id, names both ways, e-mail, company
        digits VARCHAR NOT NULL,          -- the phones' digits
        surname VARCHAR,                  -- the sort keys of a result, as the contact has them
        given_name VARCHAR
    );
"""


def refresh_sql(ids: str | None = None) -> str:
    """SQL that (re)indexes the contacts whose id is in the SELECT ``ids`` (all contacts when None)."""
    where = f"WHERE c.contact_id IN ({ids})" if ids else ""
    return (f"INSERT OR REPLACE INTO contact_search SELECT c.contact_id, {FOLD_SQL}, {_DIGITS}, c.surname, c.given_name "
            f"FROM contacts c {where};")


def refresh(con: Any, ids: str | None = None, params: Any = ()) -> None:
    """Re-index the contacts selected by ``ids`` (a SELECT of contact ids, with its ``params``), in the
    caller's transaction."""
    con.execute(refresh_sql(ids), list(params))
