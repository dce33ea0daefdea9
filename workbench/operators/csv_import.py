"""Bulk operator enablement from CSV: validate every row, review, then write all in one transaction.

    review = import_operators(store, "operators.csv", mode="add-or-update", match="operator_id",
                              dry_run=False, skip_invalid=False)

Rules (the Pega data import wizard's, made strict and explainable):
- columns operator_id, name, email, contact_sync and the optional backend; headers trimmed and
  case-insensitive; unknown extra columns are reported and ignored; headers must be unique;
- required columns: all four in ``add`` mode; the match column in ``add-or-update`` mode (a column
  left out keeps the stored value of updated operators; a new operator needs every column);
- values are trimmed; a leading ``'`` guarding ``= + - @``, tab, CR or ``'`` (see
  ``workbench.csvio.neutralise``) is stripped; e-mail must be valid; contact_sync one of
  true/false/yes/no/y/n/1/0 (any case); backend ews, graph (any case) or empty (the organisation's
  ``backend`` setting), written to ``operator_backends`` in the same transaction; an operator with links
  keeps its backend (``operators move`` translates its item ids);
- the match key (operator_id, or e-mail case-insensitively) is unique within the file, and so is
  operator_id; with match=email an e-mail matching two stored operators is an error;
- ``add`` refuses rows whose operator already exists; ``add-or-update`` adds new keys, updates known
  ones and counts identical rows as unchanged (they are not rewritten);
- nothing is written if any row failed, unless ``skip_invalid``; ``dry_run`` writes nothing; the
  existing operators are read and the new ones written inside the same transaction;
- a written import queues a sync request (``workbench.store.sync_requests``) in that transaction for the
  operators it added with contact_sync on and those whose contact_sync or e-mail changed.
"""
from __future__ import annotations

import os
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.csvio import CellError, read_csv, unneutralise, write_csv
from workbench.errors import WorkbenchError
from workbench.operators.backend_choice import DEFAULT, linked_operators
from workbench.settings import BACKENDS, EMAIL_RE
from workbench.store import Store, now
from workbench.store.settings_table import org_backend_in

COLUMNS = ("operator_id", "name", "email", "contact_sync")
OPTIONAL_COLUMNS = ("backend",)          # absent: stored overrides stay; empty cell: the organisation's setting
ALL_COLUMNS = COLUMNS + OPTIONAL_COLUMNS
MODES = ("add", "add-or-update")
MATCH_KEYS = ("operator_id", "email")
BOOLEANS = {"true": True, "yes": True, "y": True, "1": True,
            "false": False, "no": False, "n": False, "0": False}
MAX_ID = 128
MAX_NAME = 256
MAX_EMAIL = 254
PAUSE_ENV = "WORKBENCH_TEST_PAUSE_BEFORE_COMMIT"   # test hook: seconds to sleep inside the transaction
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

ERROR_COLUMNS = ["line", "column", "value", "reason"]
CHANGE_COLUMNS = ["line", "operator_id", "action", "changes"]


@dataclass
class ImportReview:
    """What an import did (or would do): the review step of the wizard."""
    path: str
    mode: str
    match: str
    dry_run: bool
    skip_invalid: bool
    delimiter: str = ","
    processed: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    errors: list[CellError] = field(default_factory=list)      # (line, column, value, reason)
    unknown_columns: list[str] = field(default_factory=list)
    written: bool = False
    changes: list[tuple[int, str, str, str]] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    @property
    def failed_lines(self) -> list[int]:
        return sorted({e.line for e in self.errors})

    def errors_df(self) -> pd.DataFrame:
        """One row per problem: line, column, value, reason (for the dashboard's review table)."""
        return pd.DataFrame([tuple(e) for e in self.errors], columns=ERROR_COLUMNS).astype(
            {"line": "int64"})

    def changes_df(self) -> pd.DataFrame:
        """One row per valid data row: line, operator_id, action (add/update/unchanged), changes."""
        return pd.DataFrame(self.changes, columns=CHANGE_COLUMNS).astype({"line": "int64"})

    def write_errors(self, path: str | Path) -> int:
        """Write the problems as CSV (line, column, value, reason); values neutralised."""
        return write_csv(path, ERROR_COLUMNS, self.errors)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("changes")
        d["errors"] = [e._asdict() for e in self.errors]
        return d

    def outcome(self) -> str:
        if self.written:
            n = self.added + self.updated
            skipped = f"; {self.failed} failed rows skipped" if self.failed else ""
            return f"written: {n} operator{'s' if n != 1 else ''} ({self.added} added, {self.updated} updated) in one transaction{skipped}"
        if self.dry_run:
            return "dry run: nothing written" + ("" if self.ok else f" ({self.failed} rows would fail)")
        if not self.ok and not self.skip_invalid:
            return (f"not written: {self.failed} of {self.processed} rows failed; nothing was changed. "
                    "Fix them or rerun with --skip-invalid")
        return "nothing to write: every valid row is unchanged"


def _fail(code_detail: str) -> WorkbenchError:
    return WorkbenchError("USAGE", code_detail)


def required_columns(mode: str, match: str) -> tuple[str, ...]:
    return COLUMNS if mode == "add" else (match,)


def import_operators(store: Store, path: str | Path, *, mode: str = "add-or-update",
                     match: str = "operator_id", dry_run: bool = False, skip_invalid: bool = False,
                     source: str | None = None) -> ImportReview:
    """Validate ``path`` against the store, then (unless refused or dry run) write it in one transaction.

    File-level problems (unreadable, not UTF-8, broken quoting, empty, header only, duplicate header,
    missing required column) raise ``workbench.csvio.CsvFileError`` (code CSV_INVALID, ``.errors``).
    Row-level problems are returned in the review.
    """
    if mode not in MODES:
        raise _fail(f"mode={mode!r}: must be one of {', '.join(MODES)}")
    if match not in MATCH_KEYS:
        raise _fail(f"match={match!r}: must be one of {', '.join(MATCH_KEYS)}")
    path = Path(path)
    table = read_csv(path, required=required_columns(mode, match))
    review = ImportReview(str(path), mode, match, dry_run, skip_invalid, table.delimiter,
                          processed=len(table))
    review.unknown_columns = [h or "(empty)" for h in table.header if h not in ALL_COLUMNS]
    rows = _Rows(table, review)
    rows.check_values()
    stamp = now()
    source = source or f"csv:{path.name}"
    with (store.read() if dry_run else store.write()) as con:
        existing = con.execute("SELECT o.operator_id, o.name, o.email, o.contact_sync, b.backend FROM operators o "
                               "LEFT JOIN operator_backends b USING (operator_id)").fetchall()
        if rows.backends is not None:
            rows.backend_rules(org_backend_in(con), linked_operators(con))
        adds, updates = rows.diff(existing)
        by_id = {r[0]: r for r in existing}
        review.failed = len(rows.bad)
        review.errors.sort(key=lambda e: e.line)
        if dry_run or (review.failed and not skip_invalid) or not (adds or updates):
            return review
        if adds:
            con.register("incoming_operators", _frame(adds, stamp, source))
            con.execute("INSERT INTO operators (operator_id, name, email, contact_sync, updated_at, source) "
                        "SELECT operator_id, name, email, contact_sync, updated_at, source FROM incoming_operators")
            con.unregister("incoming_operators")
        if updates:
            con.register("changed_operators", _frame(updates, stamp, source))
            con.execute("UPDATE operators SET name = u.name, email = u.email, contact_sync = u.contact_sync, "
                        "updated_at = u.updated_at, source = u.source "
                        "FROM changed_operators u WHERE operators.operator_id = u.operator_id")
            con.unregister("changed_operators")
        _write_backends(con, adds, updates, by_id, stamp, source)
        affected = [a[0] for a in adds if a[3]] + [u[0] for u in updates
                                                   if (u[2], u[3]) != (by_id[u[0]][2], bool(by_id[u[0]][3]))]
        if affected:
            from workbench.store.sync_requests import queue
            queue(con, affected, f"operators import {path.name}", source=source)
        _pause_before_commit()
        review.written = True
    return review


def _write_backends(con, adds: list[tuple], updates: list[tuple], by_id: dict[str, tuple], stamp,
                    source: str) -> None:
    """Set the ``operator_backends`` rows of the added and updated operators whose override changed."""
    changed = [(r[0], r[4]) for r in adds if r[4]] + [(u[0], u[4]) for u in updates if u[4] != by_id[u[0]][4]]
    if changed:
        con.executemany("DELETE FROM operator_backends WHERE operator_id = ?", [[op] for op, _ in changed])
        con.executemany("INSERT INTO operator_backends VALUES (?, ?, ?, ?)",
                        [[op, kind, stamp, source] for op, kind in changed if kind])


def _frame(rows: list[tuple[str, str, str, bool, str | None]], stamp, source: str) -> pd.DataFrame:
    ids, names, emails, flags, _backends = zip(*rows)
    return pd.DataFrame({
        "operator_id": pd.Series(ids, dtype=object), "name": pd.Series(names, dtype=object),
        "email": pd.Series(emails, dtype=object), "contact_sync": pd.Series(flags, dtype=bool),
        "updated_at": pd.Series([stamp] * len(ids), dtype="datetime64[us]"),
        "source": pd.Series([source] * len(ids), dtype=object),
    })


def _pause_before_commit() -> None:
    pause = os.environ.get(PAUSE_ENV)
    if pause:
        print("import: inside the transaction, pausing before COMMIT", file=sys.stderr, flush=True)
        time.sleep(float(pause))


class _Rows:
    """Column-wise validation of the table's rows; ``bad`` holds indices of failed rows."""

    def __init__(self, table, review: ImportReview) -> None:
        self.t = table
        self.review = review
        self.lines = table.lines
        self.n = len(table)
        self.bad: set[int] = set()
        self.cols: dict[str, list[str] | None] = {}
        for name in ALL_COLUMNS:
            raw = table.column(name)
            self.cols[name] = None if raw is None else [unneutralise(v.strip()) for v in raw]
        self.flags: list[bool | None] | None = None
        self.backends: list[str | None] | None = None      # per row: ews, graph or None (the organisation's)
        self.org_backend = ""
        self.linked: set[str] = set()

    def err(self, i: int, column: str, value: str, reason: str) -> None:
        self.bad.add(i)
        self.review.errors.append(CellError(self.lines[i], column, value, reason))

    def check_values(self) -> None:
        width = len(self.t.header)
        for i, count in self.t.field_counts.items():
            self.err(i, "", "", f"{count} fields but the header has {width} "
                                "(a stray delimiter or a missing quote?)")
        ids, names, emails, syncs = (self.cols[c] for c in COLUMNS)
        err, control = self.err, _CONTROL.search
        if ids is not None:
            for i, v in enumerate(ids):
                if not v:
                    err(i, "operator_id", v, "empty; every row needs an operator id")
                elif len(v) > MAX_ID or control(v):
                    err(i, "operator_id", v, f"must be at most {MAX_ID} characters without line breaks "
                                             "or control characters")
        if names is not None:
            for i, v in enumerate(names):
                if not v:
                    err(i, "name", v, "empty; the operator's name is required")
                elif len(v) > MAX_NAME or control(v):
                    err(i, "name", v, f"must be at most {MAX_NAME} characters without line breaks "
                                      "or control characters")
        if emails is not None:
            match = EMAIL_RE.match
            for i, v in enumerate(emails):
                if not v:
                    err(i, "email", v, "empty; the operator's Exchange e-mail address is required")
                elif len(v) > MAX_EMAIL or not match(v):
                    err(i, "email", v, "not a valid e-mail address")
        if syncs is not None:
            flags: list[bool | None] = []
            get = BOOLEANS.get
            for i, v in enumerate(syncs):
                flag = get(v.lower())
                if flag is None:
                    err(i, "contact_sync", v, "unknown boolean: use true/false, yes/no, y/n or 1/0"
                        if v else "empty; must be true or false (yes/no, y/n, 1/0)")
                flags.append(flag)
            self.flags = flags
        self._check_backends()
        # unique keys within the file (first occurrence wins, later ones fail)
        if ids is not None:
            self._unique(ids, "operator_id", lambda v: v)
        if self.review.match == "email" and emails is not None:
            self._unique(emails, "email", str.lower)

    def _check_backends(self) -> None:
        values = self.cols["backend"]
        if values is None:
            return
        self.backends = []
        for i, v in enumerate(values):
            kind = v.lower()
            if kind and kind not in BACKENDS:
                self.err(i, "backend", v, f"unknown backend: use {' or '.join(BACKENDS)}, or leave it empty for "
                                          "the organisation's backend setting")
            self.backends.append(kind or None)

    def backend_rules(self, org_backend: str, linked: set[str]) -> None:
        """What ``diff`` needs to refuse a backend change of an operator with links."""
        self.org_backend, self.linked = org_backend, linked

    def _backend_refused(self, i: int, target: tuple, backend: str | None) -> bool:
        old, new = target[4] or self.org_backend, backend or self.org_backend
        if old == new or target[0] not in self.linked:
            return False
        self.err(i, "backend", self.cols["backend"][i],
                 f"operator {target[0]} has links on {old}; changing its backend needs "
                 f"`workbench operators move {target[0]} --to {new}` (it translates the item ids)")
        return True

    def _unique(self, values: list[str], column: str, key) -> None:
        first: dict[str, int] = {}
        for i, v in enumerate(values):
            if not v:
                continue
            k = key(v)
            j = first.setdefault(k, i)
            if j != i:
                self.err(i, column, v, f"duplicate {column}: already on line {self.lines[j]} "
                                       "(must be unique within the file)")

    def diff(self, existing: list[tuple]) -> tuple[list[tuple], list[tuple]]:
        """Split valid rows into adds and updates against the stored operators; record failures."""
        review, err = self.review, self.err
        by_id = {r[0]: r for r in existing}
        by_email: dict[str, list[str]] = {}
        if review.match == "email":
            for r in existing:
                by_email.setdefault(r[2].lower(), []).append(r[0])
        ids, names, emails = self.cols["operator_id"], self.cols["name"], self.cols["email"]
        flags, backends = self.flags, self.backends
        absent = [c for c in COLUMNS if self.cols[c] is None]
        adds: list[tuple] = []
        updates: list[tuple] = []
        for i in range(self.n):
            if i in self.bad:
                continue
            oid = ids[i] if ids is not None else None
            if review.match == "operator_id":
                target = by_id.get(oid)
            else:
                found = by_email.get(emails[i].lower(), [])
                if len(found) > 1:
                    err(i, "email", emails[i], f"matches {len(found)} stored operators ({', '.join(sorted(found))}); "
                                               "match by operator_id or fix the stored e-mails")
                    continue
                target = by_id[found[0]] if found else None
                if target is not None and oid is not None and oid != target[0]:
                    err(i, "operator_id", oid, f"differs from {target[0]!r}, the stored operator with this e-mail; "
                                               "operator ids cannot be changed by an import")
                    continue
                if target is None and oid is not None and oid in by_id:
                    err(i, "operator_id", oid, f"already exists with e-mail {by_id[oid][2]!r}; this row's e-mail "
                                               "matches no operator, so it would add a second operator with this id")
                    continue
            if target is not None:
                if review.mode == "add":
                    err(i, review.match, oid if review.match == "operator_id" else emails[i],
                        f"operator {target[0]} already exists; --mode add only adds new operators "
                        "(--mode add-or-update updates it)")
                    continue
                update = self._update(i, target)
                if update is not None:
                    updates.append(update)
            else:
                if absent:
                    for c in absent:
                        err(i, c, "", f"column {c} is missing from the file; it is needed to add the "
                                      "new operator on this row")
                    continue
                review.added += 1
                adds.append((oid, names[i], emails[i], flags[i], backends[i] if backends is not None else None))
                review.changes.append((self.lines[i], oid, "add", ""))
        return adds, updates

    def _update(self, i: int, target: tuple) -> tuple | None:
        """Row ``i`` over the stored operator ``target``: the new values if they differ (None: unchanged or
        refused), recorded in the review."""
        names, emails, flags, backends = self.cols["name"], self.cols["email"], self.flags, self.backends
        new = (target[0],
               names[i] if names is not None else target[1],
               emails[i] if emails is not None else target[2],
               flags[i] if flags is not None else bool(target[3]),
               backends[i] if backends is not None else target[4])
        old = (target[0], target[1], target[2], bool(target[3]), target[4])
        if self._backend_refused(i, target, new[4]):
            return None
        if new == old:
            self.review.unchanged += 1
            self.review.changes.append((self.lines[i], target[0], "unchanged", ""))
            return None
        self.review.updated += 1
        diff = "; ".join(f"{c}: {_show(a)} -> {_show(b)}"
                         for c, a, b in zip(ALL_COLUMNS[1:], old[1:], new[1:]) if a != b)
        self.review.changes.append((self.lines[i], target[0], "update", diff))
        return new


def _show(v: Any) -> str:
    if v is None:
        return DEFAULT
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)
