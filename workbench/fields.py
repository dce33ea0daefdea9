"""The contact fields the sync maps, shared by the store, the planner and the Exchange mapping.

The content hash has one normalisation, rendered twice from ``WHITESPACE``: ``normalise`` in Python and
``normalise_sql`` in DuckDB SQL, so a hash computed on either side is the same for any text
(tests/unit/test_content_hash.py checks that with hypothesis).
"""
from __future__ import annotations

import hashlib
import re
from typing import Any, Iterable, Mapping

CONTACT_FIELDS: tuple[str, ...] = (
    "given_name", "surname", "email", "business_phone", "mobile_phone", "home_phone",
    "company", "job_title", "street", "city", "state", "postal_code", "country",
)
#: the CRM id an item carries: one single-value extended property in our own property set, fixed forever and
#: the same on every backend (EWS ExtendedFieldURI PropertySetId/PropertyName; Graph "String {guid} Name X")
CRM_ID_PROPERTY_SET = "5b0e6f0c-2d3a-4c59-9a8e-7f1d3c6b2e91"
CRM_ID_PROPERTY_NAME = "WorkbenchCrmContactId"
SEPARATOR = "\x1f"
# stripped from both ends of a value: exactly the characters Python's str.isspace() accepts (ASCII
# whitespace, the separators \x1c-\x1f, NEL, no-break and the Unicode spaces, line/paragraph separators)
WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
              "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
_CLASS = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in WHITESPACE) + "]"   # RE2 class, ASCII-only SQL text
_EDGES = f"^{_CLASS}+|{_CLASS}+$"

#: Characters no contact text may hold: C0 controls other than tab, LF and CR, DEL, the C1 controls
#: and the non-characters U+FDD0..U+FDDF, U+FFFE, U+FFFF. XML 1.0 cannot carry most of them, and
#: exchangelib sends each as "?" (its ``_ILLEGAL_XML_CHARS_RE`` is a subset of this set), so the two
#: sides would differ silently. The CSV import refuses them and the Exchange mapping drops them both
#: ways, so CRM and Exchange values (and so both content hashes) stay equal: the hash itself need not
#: know the rule (cleaning inside ``hash_sql`` would double its cost in every plan).
FORBIDDEN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufdd0-\ufddf\ufffe\uffff]")


def forbidden_char(text: str) -> str | None:
    """The first character of ``text`` no contact field may hold, or None."""
    found = FORBIDDEN_TEXT.search(text)
    return found.group() if found else None


def without_forbidden(text: str) -> str:
    """``text`` with every ``FORBIDDEN_TEXT`` character removed."""
    return FORBIDDEN_TEXT.sub("", text)


def normalise(value: object) -> str:
    """Field value as compared and hashed: None, NaN and blanks are '', WHITESPACE stripped at both ends,
    e-mail case kept as typed."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value).strip(WHITESPACE)


def normalise_sql(expr: str) -> str:
    """SQL expression giving ``normalise`` of a VARCHAR expression (NULL -> '')."""
    return f"coalesce(regexp_replace({expr}, '{_EDGES}', '', 'g'), '')"


def content_hash(row: Mapping[str, object]) -> str:
    """md5 over the mapped fields; the same value DuckDB's ``hash_sql`` computes."""
    joined = SEPARATOR.join(normalise(row.get(f)) for f in CONTACT_FIELDS)
    return hashlib.md5(joined.encode("utf-8")).hexdigest()


def hash_sql(alias: str = "") -> str:
    """SQL expression computing ``content_hash`` over a table's mapped columns."""
    prefix = f"{alias}." if alias else ""
    parts = ", ".join(normalise_sql(f"{prefix}{f}") for f in CONTACT_FIELDS)
    return f"md5(concat_ws(chr({ord(SEPARATOR)}), {parts}))"


def clean_value(value: Any) -> str | None:
    """A field value both ways (read and written): normalised as the content hash does, without the characters
    EWS cannot carry (``FORBIDDEN_TEXT``; exchangelib would send each as "?"), '' as None."""
    if value is None:
        return None
    return normalise(without_forbidden(str(value))) or None


def expected_row(item_id: str, change_key: str, fields: Mapping[str, Any], *, crm_id: str | None,
                 categories: Iterable[str], private: bool) -> dict[str, Any]:
    """The snapshot row an item has after we wrote ``fields`` (for updating exchange_contacts without a read)."""
    row = {f: clean_value(fields.get(f)) for f in CONTACT_FIELDS}
    row.update({"item_id": item_id, "change_key": change_key, "crm_id": crm_id,
                "categories": list(dict.fromkeys(categories)), "private": bool(private)})
    return row


def present(value: Any) -> Any:
    """``value``, or None when it is missing (None, or the NaN pandas puts in an empty cell)."""
    return None if value is None or (isinstance(value, float) and value != value) else value
