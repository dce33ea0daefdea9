"""The contact fields the sync maps, shared by the store, the planner and the Exchange mapping."""
from __future__ import annotations

import hashlib
from typing import Mapping

CONTACT_FIELDS: tuple[str, ...] = (
    "given_name", "surname", "email", "business_phone", "mobile_phone", "home_phone",
    "company", "job_title", "street", "city", "state", "postal_code", "country",
)
SEPARATOR = "\x1f"


def normalise(value: object) -> str:
    """Field value as compared and hashed: None and blanks are '', e-mail case is kept as typed."""
    if value is None:
        return ""
    text = str(value).strip()
    return text


def content_hash(row: Mapping[str, object]) -> str:
    """md5 over the mapped fields; the same value DuckDB's ``hash_sql`` computes."""
    joined = SEPARATOR.join(normalise(row.get(f)) for f in CONTACT_FIELDS)
    return hashlib.md5(joined.encode("utf-8")).hexdigest()


def hash_sql(alias: str = "") -> str:
    """SQL expression computing ``content_hash`` over a table's mapped columns."""
    prefix = f"{alias}." if alias else ""
    parts = ", ".join(f"coalesce(trim({prefix}{f}), '')" for f in CONTACT_FIELDS)
    return f"md5(concat_ws(chr(31), {parts}))"
