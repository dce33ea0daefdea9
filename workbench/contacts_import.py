"""Load CRM contacts with their team (operator ids) from CSV: validate all, then write all.

A written import queues a sync request (``workbench.store.sync_requests``, same transaction) for the enabled
operators it affects: those on the old or new team of a contact that is new, revived or changed (mapped
fields or the private flag), and those that joined or left a contact's team. Re-importing an unchanged
file queues nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from workbench.csvio import excerpt, read_csv, unneutralise
from workbench.errors import ValidationError
from workbench.fields import CONTACT_FIELDS, forbidden_char, hash_sql
from workbench.settings import EMAIL_RE
from workbench.store import Store, contact_search, now
from workbench.store.operators_table import known_ids

COLUMNS = ("contact_id",) + CONTACT_FIELDS + ("private", "team", "updated_at")
TEXT_COLUMNS = ("contact_id",) + CONTACT_FIELDS
MIN_YEAR, MAX_YEAR = 1900, 9999
_BOOL = {"true": True, "yes": True, "y": True, "1": True,
         "false": False, "no": False, "n": False, "0": False, "": False}


@dataclass
class ContactsImport:
    contacts: int
    team_rows: int
    operators: list[str] = field(default_factory=list)    # enabled operators a sync was requested for


def _affected_sql() -> str:
    casts = ", ".join(f"{f}::VARCHAR AS {f}" for f in CONTACT_FIELDS)
    return f"""
    WITH i AS (
        SELECT contact_id::VARCHAR AS contact_id, private::BOOLEAN AS private, {casts} FROM incoming_contacts
    ), changed AS (
        SELECT i.contact_id FROM i LEFT JOIN contacts c USING (contact_id)
        WHERE c.contact_id IS NULL OR c.deleted_at IS NOT NULL OR i.private IS DISTINCT FROM c.private
           OR {hash_sql("i")} <> {hash_sql("c")}
    ), old_team AS (
        SELECT contact_id, operator_id FROM contact_team WHERE contact_id IN (SELECT contact_id FROM i)
    ), new_team AS (
        SELECT DISTINCT contact_id::VARCHAR AS contact_id, operator_id::VARCHAR AS operator_id FROM incoming_team
    ), touched AS (
        SELECT operator_id FROM old_team WHERE contact_id IN (SELECT contact_id FROM changed)
        UNION SELECT operator_id FROM new_team WHERE contact_id IN (SELECT contact_id FROM changed)
        UNION SELECT operator_id FROM (SELECT * FROM old_team EXCEPT SELECT * FROM new_team)
        UNION SELECT operator_id FROM (SELECT * FROM new_team EXCEPT SELECT * FROM old_team)
    )
    SELECT o.operator_id FROM operators o JOIN touched USING (operator_id)
    WHERE o.contact_sync ORDER BY o.operator_id
    """


def utc_timestamp(value: str) -> datetime:
    """An ISO 8601 date or date-time as naive UTC (an offset is applied, none means UTC); ValueError if not."""
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("not ISO 8601") from None      # the library's message repeats the whole value
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(timezone.utc).replace(tzinfo=None)
    if not MIN_YEAR <= stamp.year <= MAX_YEAR:
        raise ValueError(f"year {stamp.year} outside {MIN_YEAR}..{MAX_YEAR}")
    return stamp


def _row_problems(line: int, row: dict[str, str], operators: set[str]) -> list[str]:
    problems = []
    if not row["contact_id"]:
        problems.append(f"line {line}: contact_id is empty (required)")
    for col in TEXT_COLUMNS:
        bad = forbidden_char(row[col])
        if bad is not None:
            problems.append(f"line {line}: {col}={excerpt(row[col])} holds control character U+{ord(bad):04X} "
                            f"at position {row[col].index(bad) + 1} (contact text may not hold control "
                            "characters other than tab and line breaks; remove it)")
    if row["email"] and not EMAIL_RE.match(row["email"]):
        problems.append(f"line {line}: email={excerpt(row['email'])} is not a valid e-mail address")
    if row["private"].lower() not in _BOOL:
        problems.append(f"line {line}: private={excerpt(row['private'])} must be true or false")
    for op in filter(None, (t.strip() for t in row["team"].split(";"))):
        if op not in operators:
            problems.append(f"line {line}: team={excerpt(op)} is not a known operator id")
    if row["updated_at"]:
        try:
            utc_timestamp(row["updated_at"])
        except ValueError as exc:
            problems.append(f"line {line}: updated_at={excerpt(row['updated_at'])} is refused: {exc}; use an "
                            "ISO 8601 date or date-time such as 2024-05-01T09:30:00+02:00 (no offset means UTC)")
    return problems


def import_contacts(store: Store, path: str | Path, *, source: str = "cli") -> ContactsImport:
    table = read_csv(path, required=("contact_id", "given_name", "surname", "email", "team"))
    operators = known_ids(store)
    problems: list[str] = []
    seen: dict[str, int] = {}
    records = []
    stamp = now()
    for line, values in table.rows:
        row = {c: "" for c in COLUMNS}
        # a leading ' before = + - @ is the formula guard of an export (contacts_export): stripped again
        row.update({h: unneutralise(v.strip()) for h, v in zip(table.header, values) if h in row})
        problems += _row_problems(line, row, operators)
        cid = row["contact_id"]
        if cid in seen:
            problems.append(f"line {line}: contact_id={excerpt(cid)} already on line {seen[cid]} (must be unique)")
        seen[cid] = line
        records.append(row)
    if problems:
        raise ValidationError("CSV_INVALID", problems[:50] + ([f"... and {len(problems) - 50} more"]
                                                          if len(problems) > 50 else []))
    contacts = pd.DataFrame({
        "contact_id": [r["contact_id"] for r in records],
        **{f: [r[f] or None for r in records] for f in CONTACT_FIELDS},
        "private": [_BOOL[r["private"].lower()] for r in records],
        "updated_at": pd.Series([utc_timestamp(r["updated_at"]) if r["updated_at"] else stamp for r in records],
                                dtype="datetime64[us]"),
    })
    team = pd.DataFrame(
        [(r["contact_id"], op.strip(), stamp) for r in records for op in r["team"].split(";") if op.strip()],
        columns=["contact_id", "operator_id", "added_at"],
    )
    cols = ", ".join(contacts.columns)
    with store.write() as con:
        con.register("incoming_contacts", contacts)
        con.register("incoming_team", team)
        affected = [r[0] for r in con.execute(_affected_sql()).fetchall()]
        con.execute(f"INSERT OR REPLACE INTO contacts ({cols}) SELECT {cols} FROM incoming_contacts")
        contact_search.refresh_imported(con, "SELECT contact_id FROM incoming_contacts")
        con.execute("DELETE FROM contact_team WHERE contact_id IN (SELECT contact_id FROM incoming_contacts)")
        con.execute("INSERT OR IGNORE INTO contact_team SELECT contact_id, operator_id, added_at FROM incoming_team")
        if affected:
            from workbench.store.sync_requests import queue
            queue(con, affected, f"contacts import {Path(path).name}", source=source)
    return ContactsImport(len(contacts), len(team), affected)
