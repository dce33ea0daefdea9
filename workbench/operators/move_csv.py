"""`operators move --csv FILE`: each row moves its operator to its backend (``workbench.operators.move``).

Columns ``operator_id`` and ``backend``, named as in the operators import (an edited `operators export` file
works; other columns are ignored), read by ``workbench.csvio.read_csv`` (UTF-8 with or without BOM, delimiter
detected, header checked). ``backend`` is ews or graph (any case), or empty for the organisation's ``backend``
setting, as in the import. The whole file is validated first: an empty or unknown operator id, an operator on two
rows, a backend value not ews/graph/empty, a row with more or fewer fields than the header: nothing is moved
when any row fails (``CsvMove.errors``). An operator already on its row's backend is reported unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from workbench.csvio import CellError, CsvFileError, read_csv, unneutralise
from workbench.operators.move import MoveResult, Progress, run_moves
from workbench.settings import BACKENDS
from workbench.store import Store
from workbench.store.settings_table import load

COLUMNS = ("operator_id", "backend")


@dataclass
class CsvMove:
    path: Path
    rows: int
    errors: list[CellError] = field(default_factory=list)     # not empty: nothing was moved
    results: list[MoveResult] = field(default_factory=list)


def move_from_csv(store: Store, path: str | Path, *, dry_run: bool = False, source: str | None = None,
                  progress: Progress | None = None) -> CsvMove:
    """Validate every row of ``path``, then (no row failed) move each operator with ``run_moves``. File-level
    problems (``workbench.csvio.CsvFileError``: not UTF-8, no header, a column missing...) are errors too."""
    path = Path(path)
    try:
        table = read_csv(path, required=COLUMNS)
    except CsvFileError as exc:
        return CsvMove(path, 0, errors=exc.errors)
    plan = CsvMove(path, len(table))
    ids = [unneutralise(v.strip()) for v in table.column("operator_id")]
    kinds = [unneutralise(v.strip()).lower() for v in table.column("backend")]
    known = {r[0] for r in store.rows("SELECT operator_id FROM operators")}
    org_backend = load(store).backend
    first: dict[str, int] = {}
    plans: list[tuple[str, str]] = []
    for i, (oid, kind) in enumerate(zip(ids, kinds)):
        line = table.lines[i]
        errors = _row_errors(table, i, oid, kind, known, first)
        first.setdefault(oid, line)
        plan.errors += errors
        if not errors:
            plans.append((oid, kind or org_backend))
    if not plan.errors:
        plan.results = run_moves(store, plans, dry_run=dry_run, source=source or f"csv:{path.name}",
                                 progress=progress)
    return plan


def _row_errors(table, i: int, oid: str, kind: str, known: set[str], first: dict[str, int]) -> list[CellError]:
    line, out = table.lines[i], []
    if i in table.field_counts:
        out.append(CellError(line, "", "", f"{table.field_counts[i]} fields but the header has "
                                           f"{len(table.header)} (a stray delimiter or a missing quote?)"))
    if not oid:
        out.append(CellError(line, "operator_id", oid, "empty; every row needs an operator id"))
    elif oid not in known:
        out.append(CellError(line, "operator_id", oid, "unknown operator (not in the store; "
                                                       "`workbench operators list` shows them)"))
    elif oid in first:
        out.append(CellError(line, "operator_id", oid, f"duplicate operator_id: already on line {first[oid]} "
                                                       "(an operator moves once per file)"))
    if kind and kind not in BACKENDS:
        out.append(CellError(line, "backend", table.column("backend")[i].strip(),
                             f"unknown backend: use {' or '.join(BACKENDS)}, or leave it empty for the "
                             "organisation's backend setting"))
    return out
